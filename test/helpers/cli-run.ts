/**
 * Drives the real `outrigger` binary (a child process) against a real supervisor started in the
 * test process. Children run asynchronously: a synchronous spawn would block the very event loop
 * the supervisor answers on.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { startSupervisor } from '../../src/start.js'
import type { Supervisor } from '../../src/supervisor/types.js'

/** Paths from the compiled file (dist/test/helpers) back to the sources. */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
export const BIN = path.join(ROOT, 'bin', 'outrigger.cjs')
export const CLI_FIXTURES = path.join(ROOT, 'test', 'fixtures', 'cli')

export interface RunResult {
  code: number
  stdout: string
  stderr: string
}

/** Runs `outrigger <args>` with the test's runtime folder; resolves with the exit code and output. */
export function rig(args: string[], opts: { runtimeDir: string; cwd?: string; env?: NodeJS.ProcessEnv }): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: opts.cwd ?? ROOT, env: { ...process.env, NO_COLOR: '1', ...opts.env, OUTRIGGER_RUNTIME_DIR: opts.runtimeDir }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0
        resolve({ code, stdout, stderr })
      },
    )
  })
}

/** A temp folder with `available/` (copies of the fixtures), `enabled/` links and a runtime folder. */
export async function workspace(plugins: string[]): Promise<{ root: string; enabled: string; runtimeDir: string; cleanup(): Promise<void> }> {
  const root = await mkdtemp(path.join(tmpdir(), 'rig-cli-'))
  const enabled = path.join(root, 'plugins', 'enabled')
  const available = path.join(root, 'plugins', 'available')
  await mkdir(enabled, { recursive: true })
  await mkdir(available, { recursive: true })
  await writeFile(path.join(root, 'package.json'), '{"type":"module"}\n')
  for (const p of plugins) {
    await cp(path.join(CLI_FIXTURES, p), path.join(available, p), { recursive: true })
    await symlink(path.join('..', 'available', p), path.join(enabled, p), 'dir')
  }
  const runtimeDir = path.join(root, 'run')
  return { root, enabled, runtimeDir, cleanup: () => rm(root, { recursive: true, force: true }) }
}

/** A real supervisor with its control socket on, in-memory state and no HTTP. */
export function startHost(app: string, ws: { root: string; enabled: string; runtimeDir: string }): Promise<Supervisor> {
  return startSupervisor({
    app,
    pluginsDir: ws.enabled,
    stateDir: path.join(ws.root, 'state'),
    store: 'memory',
    http: false,
    control: { runtimeDir: ws.runtimeDir },
    config: { logLevel: 'silent' },
  })
}


/** Collects a child's output as it arrives, so a test can wait for a line. */
export function collect(child: ChildProcess): { out: () => string; exited: Promise<number | null> } {
  let out = ''
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d))
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (out += d))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return { out: () => out, exited }
}

/**
 * Spawns the real `outrigger start` on the plugin folder `root/enabled`, with its own config,
 * state and socket folder under `root`, an HTTP port of the system's choosing, and its output
 * collected; `args` go after `start`'s own, `env` over the test's environment.
 */
export async function spawnCli(root: string, app: string, config: object, opts: { args?: string[]; env?: NodeJS.ProcessEnv } = {}): Promise<{ child: ChildProcess; io: ReturnType<typeof collect>; runtimeDir: string }> {
  const cfg = path.join(root, 'outrigger.config.json')
  await writeFile(cfg, JSON.stringify({ pluginsDir: 'enabled', stateDir: 'state', logLevel: 'warn', ...config }))
  const runtimeDir = path.join(root, 'run')
  const child = spawn(process.execPath, [BIN, 'start', '--app', app, '--config', cfg, '--port', '0', ...(opts.args ?? [])], {
    env: { ...process.env, ...opts.env, OUTRIGGER_RUNTIME_DIR: runtimeDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  return { child, io: collect(child), runtimeDir }
}
