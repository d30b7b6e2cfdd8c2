/**
 * The host's own output cannot kill it or hang it (issue 12 §7). The real CLI runs as a child
 * whose stdout is a real pipe: read by the test (and closed early, like `| head -c 200`), or by a
 * real `cat` that is stopped (SIGSTOP) or killed. Plugins log without pause, from the host, a
 * thread and a child process, so the pipe is always being written when the reader misbehaves.
 */
import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, describe, it } from 'node:test'
import { BIN, ROOT } from './helpers/cli-run.js'
import { alive, until } from './helpers/wait.js'
import type { StatusReport } from '../src/supervisor/status-types.js'

const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'log-output')
const DRAIN_MS = 2000
const CLOSE_MS = 1000

interface Host {
  child: ChildProcess
  url: string
  stderr: () => string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

const cleanups: Array<() => Promise<void> | void> = []
after(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

/** A project folder with the fixture plugins enabled and a config with short stop deadlines. */
async function project(plugins: string[], options: Record<string, unknown> = {}): Promise<{ root: string; config: string }> {
  const root = await mkdtemp(path.join(tmpdir(), 'rig-logout-'))
  cleanups.push(() => rm(root, { recursive: true, force: true }))
  await mkdir(path.join(root, 'plugins', 'enabled'), { recursive: true })
  await mkdir(path.join(root, 'plugins', 'available'), { recursive: true })
  await writeFile(path.join(root, 'package.json'), '{"type":"module"}\n')
  for (const p of plugins) {
    await cp(path.join(FIXTURES, p), path.join(root, 'plugins', 'available', p), { recursive: true })
    await symlink(path.join('..', 'available', p), path.join(root, 'plugins', 'enabled', p), 'dir')
  }
  const config = path.join(root, 'outrigger.config.json')
  const pluginOptions = Object.fromEntries(Object.entries(options).map(([name, o]) => [name, { options: o }]))
  await writeFile(config, JSON.stringify({ timeouts: { drainMs: DRAIN_MS, closeMs: CLOSE_MS }, plugins: pluginOptions }))
  return { root, config }
}

/** A port nobody listens on right now (the host is told to take it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

/** `outrigger start` with its stdout on `stdout` (a pipe end) and its stderr read by the test. */
async function startHost(p: { root: string; config: string }, stdout: 'pipe' | NodeJS.WritableStream): Promise<Host> {
  const port = await freePort()
  const child = spawn(process.execPath, [BIN, 'start', '--port', String(port), '--plugins', path.join(p.root, 'plugins', 'enabled'), '--config', p.config, '--app', `logout-${port}`], {
    cwd: p.root,
    env: { ...process.env, NO_COLOR: '1', OUTRIGGER_RUNTIME_DIR: path.join(p.root, 'run') },
    stdio: ['ignore', stdout as 'pipe', 'pipe'],
  })
  let err = ''
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  return { child, url: `http://127.0.0.1:${port}`, stderr: () => err, exited }
}

/** A real reader process (`cat`) whose stdin is the pipe the host writes to. */
function startReader(): { reader: ChildProcess; out: () => string } {
  const reader = spawn('cat', [], { stdio: ['pipe', 'pipe', 'ignore'] })
  let out = ''
  reader.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d))
  cleanups.push(() => {
    if (reader.exitCode === null && reader.signalCode === null) {
      reader.kill('SIGCONT')
      reader.kill('SIGKILL')
    }
  })
  return { reader, out: () => out }
}

/** Whether util-linux `script` (a real pseudo-terminal around a command) is on this machine. */
const hasScript = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0

async function get(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) })
  return { status: res.status, body: await res.text() }
}

async function status(host: Host): Promise<StatusReport> {
  return JSON.parse((await get(`${host.url}/_status`)).body) as StatusReport
}

/** Waits for the host's HTTP API to answer (it is up once every plugin has started). */
async function serving(host: Host): Promise<void> {
  await until(`the host to answer on ${host.url}/_health (stderr: ${host.stderr()})`, async () => {
    if (host.child.exitCode !== null || host.child.signalCode !== null) throw new Error(`the host exited: ${host.stderr()}`)
    return get(`${host.url}/_health`).then((r) => r.status === 200, () => false)
  }, 30_000)
}

/** SIGTERM, then the exit must come within the drain and close deadlines (plus start-up slack). */
async function stopsInTime(host: Host): Promise<void> {
  const deadline = DRAIN_MS + CLOSE_MS + 5000
  const t0 = Date.now()
  host.child.kill('SIGTERM')
  const timeout = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), deadline).unref())
  const result = await Promise.race([host.exited, timeout])
  assert.notEqual(result, 'hung', `the host still ran ${deadline} ms after SIGTERM (stderr: ${host.stderr().slice(-2000)})`)
  assert.deepEqual(result, { code: 0, signal: null }, `exit after ${Date.now() - t0} ms`)
}

describe('the host\'s own output', () => {
  it('keeps serving when its stdout reader goes away at start (`| head -c 200`)', async () => {
    const gate = path.join(tmpdir(), `rig-gate-${process.pid}-${Date.now()}`)
    cleanups.push(() => rm(gate, { force: true }))
    const p = await project(['chatter'], { chatter: { gate } })
    const host = await startHost(p, 'pipe')
    // Read 200 bytes, then close the reading end, as `head -c 200` does when it exits.
    let seen = 0
    await new Promise<void>((resolve) => {
      host.child.stdout!.on('data', (d: Buffer) => {
        seen += d.length
        if (seen >= 200) {
          host.child.stdout!.destroy()
          resolve()
        }
      })
    })
    // Only now may the start finish: the CLI's "running" line meets a closed pipe.
    await writeFile(gate, '')
    await serving(host)
    await until('log lines written after the reader left to be counted as dropped', async () => (await status(host)).logs.dropped > 0, 15_000)
    assert.equal((await get(`${host.url}/_health`)).status, 200)
    await stopsInTime(host)
  })

  it('answers /_health with a bounded loop delay while its stdout reader is stopped, and drops and counts what it cannot write', async () => {
    const p = await project(['chatter', 'printer-thread', 'printer-process'])
    const { reader, out } = startReader()
    const host = await startHost(p, reader.stdin!)
    reader.stdin!.destroy() // the host holds the writing end; only `cat` reads
    await serving(host)
    await until('the "running" line to reach the reader', () => out().includes('running:'), 15_000)
    // What the workers print reaches the host's stdout and stderr (through the host's sinks).
    for (const name of ['printer-thread', 'printer-process']) {
      await until(`${name}'s console.log on stdout`, () => out().includes(`${name} stdout`), 15_000)
      await until(`${name}'s console.error on stderr`, () => host.stderr().includes(`${name} stderr`), 15_000)
    }
    reader.kill('SIGSTOP')
    await until('lines to be dropped while the reader is stopped', async () => (await status(host)).logs.dropped > 0, 20_000)
    const samples: number[] = []
    for (let i = 0; i < 5; i++) {
      const t0 = Date.now()
      assert.equal((await get(`${host.url}/_health`)).status, 200)
      samples.push(Date.now() - t0)
    }
    const report = await status(host)
    assert.ok(report.eventLoop.p99Ms < 250, `host loop p99 ${report.eventLoop.p99Ms} ms while the reader is stopped (health round trips: ${samples.join(', ')} ms)`)
    for (const name of ['printer-thread', 'printer-process']) {
      const plugin = report.plugins.find((x) => x.name === name)!
      assert.equal(plugin.state, 'running', `${name}: ${JSON.stringify(plugin.lastError)}`)
    }
    const metrics = (await get(`${host.url}/metrics`)).body
    const line = metrics.split('\n').find((l) => l.startsWith('outrigger_logs_dropped_total '))
    assert.ok(line && Number(line.split(' ')[1]) > 0, `outrigger_logs_dropped_total in /metrics: ${line}`)
    // Stopping must not wait for the stopped reader either.
    await stopsInTime(host)
  })

  it('answers /_health with a bounded loop delay while the terminal it writes to is paused', { skip: !hasScript && 'util-linux script is not installed' }, async () => {
    const p = await project(['chatter'])
    const port = await freePort()
    const command = [process.execPath, BIN, 'start', '--port', String(port), '--plugins', path.join(p.root, 'plugins', 'enabled'), '--config', p.config, '--app', `logout-${port}`]
    // `script` runs the host on a pseudo-terminal and copies what it prints to its own stdout;
    // stopped, it no longer reads the terminal, which then fills like a paused one.
    const term = spawn('script', ['-qfec', command.map((a) => `'${a}'`).join(' '), '/dev/null'], {
      cwd: p.root,
      env: { ...process.env, NO_COLOR: '1', OUTRIGGER_RUNTIME_DIR: path.join(p.root, 'run') },
      stdio: ['pipe', 'pipe', 'ignore'],
    })
    let out = ''
    term.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d))
    let pid = 0
    cleanups.push(() => {
      if (pid && alive(pid)) process.kill(pid, 'SIGKILL')
      if (term.exitCode === null && term.signalCode === null) {
        term.kill('SIGCONT')
        term.kill('SIGKILL')
      }
    })
    const url = `http://127.0.0.1:${port}`
    await until(`the host to answer on ${url} (terminal: ${out.slice(-500)})`, () => get(`${url}/_health`).then((r) => r.status === 200, () => false), 30_000)
    pid = (JSON.parse((await get(`${url}/_status`)).body) as StatusReport).pid
    term.kill('SIGSTOP')
    await until('lines to be dropped while the terminal is paused', async () => (JSON.parse((await get(`${url}/_status`)).body) as StatusReport).logs.dropped > 0, 20_000)
    assert.equal((await get(`${url}/_health`)).status, 200)
    const report = JSON.parse((await get(`${url}/_status`)).body) as StatusReport
    assert.ok(report.eventLoop.p99Ms < 250, `host loop p99 ${report.eventLoop.p99Ms} ms while the terminal is paused`)
    const t0 = Date.now()
    process.kill(pid, 'SIGTERM')
    await until('the host to exit after SIGTERM', () => !alive(pid), DRAIN_MS + CLOSE_MS + 5000)
    assert.ok(Date.now() - t0 < DRAIN_MS + CLOSE_MS + 5000)
  })

  it('exits within the deadline when its stdout reader is killed and it is then told to stop', async () => {
    const p = await project(['chatter', 'printer-thread', 'printer-process'])
    const { reader, out } = startReader()
    const host = await startHost(p, reader.stdin!)
    reader.stdin!.destroy()
    await serving(host)
    await until('the "running" line to reach the reader', () => out().includes('running:'), 15_000)
    reader.kill('SIGKILL')
    await until('logging to stop on EPIPE (later lines counted as dropped)', async () => (await status(host)).logs.dropped > 0, 15_000)
    // Thousands more lines, from every plugin, meet the closed pipe before the check.
    const first = (await status(host)).logs.dropped
    await until('more lines to be dropped', async () => (await status(host)).logs.dropped > first + 10_000, 15_000)
    const report = await status(host)
    for (const name of ['printer-thread', 'printer-process']) {
      const plugin = report.plugins.find((x) => x.name === name)!
      assert.deepEqual([plugin.state, plugin.restarts], ['running', 0], `${name} lives on without a reader: ${JSON.stringify(plugin.lastError)}`)
    }
    await stopsInTime(host)
  })
})
