/**
 * `validate <dir>`: every problem of a plugin folder (manifest, entry file, what the entry
 * exports), or of each plugin folder inside a plugins folder. Exit 1 when there is any.
 */
import { fork } from 'node:child_process'
import { readdir, stat } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { InvalidArgumentError, type Command } from 'commander'
import { checkManifest } from '../manifest/load.js'
import type { Manifest } from '../manifest/schema.js'
import { EXIT, printJson, println, wantsJson } from './context.js'
import type { ProbeReport } from './probe-entry.js'
import { paint, useColor } from './table.js'

export interface Validation {
  dir: string
  ok: boolean
  problems: string[]
}

export function registerValidate(program: Command): void {
  program
    .command('validate <dir>')
    .description('check a plugin folder (or every plugin in a plugins folder) and print every problem')
    .option('--json', 'print [{dir, ok, problems}] as JSON')
    .option('--timeout <ms>', "how long an entry's top-level code may take to import", parseTimeout, 10_000)
    .action(async (dir: string, opts: { timeout: number }, cmd: Command) => {
      const results = await validateAll(path.resolve(dir), opts.timeout)
      if (wantsJson(cmd)) printJson(results)
      else {
        const color = useColor()
        for (const r of results) {
          println(`${r.dir}: ${r.ok ? paint('ok', 'ok', color) : paint(`${r.problems.length} problem(s)`, 'bad', color)}`)
          for (const p of r.problems) println(`  - ${p}`)
        }
      }
      process.exitCode = results.every((r) => r.ok) ? EXIT.ok : EXIT.failure
    })
}

/** A folder with a manifest is one plugin; a folder without one is treated as a plugins folder. */
async function validateAll(dir: string, timeoutMs: number): Promise<Validation[]> {
  const st = await stat(dir).catch(() => null)
  if (!st?.isDirectory()) return [{ dir, ok: false, problems: ['not a folder'] }]
  if (await stat(path.join(dir, 'manifest.json')).catch(() => null)) return [await validatePlugin(dir, timeoutMs)]
  const entries = await readdir(dir, { withFileTypes: true })
  const subdirs = entries.filter((e) => e.isDirectory() || e.isSymbolicLink()).map((e) => path.join(dir, e.name))
  if (subdirs.length === 0) return [{ dir, ok: false, problems: ['manifest.json is missing: every plugin folder needs one'] }]
  return Promise.all(subdirs.map((d) => validatePlugin(d, timeoutMs)))
}

export async function validatePlugin(dir: string, timeoutMs = 10_000): Promise<Validation> {
  const { manifest, problems } = await checkManifest(dir)
  if (manifest) problems.push(...(await checkEntry(dir, manifest, timeoutMs)))
  return { dir, ok: problems.length === 0, problems }
}

/** The entry must exist, import, and export a plugin definition that fits the type (plugin/definition.ts). */
async function checkEntry(dir: string, manifest: Manifest, timeoutMs: number): Promise<string[]> {
  const file = path.resolve(dir, manifest.main)
  const st = await stat(file).catch(() => null)
  if (!st?.isFile()) return [`main: entry file ${manifest.main} does not exist`]
  const probe = await probeEntry(file, manifest.type, timeoutMs)
  if ('problem' in probe) return [`main: ${manifest.main} ${probe.problem}`]
  if (!probe.ok) return [`main: ${manifest.main} cannot be imported: ${probe.message}`]
  return probe.problems.map((p) => `main: ${manifest.main}: ${p}`)
}

const PROBE = fileURLToPath(new URL('./probe-entry.js', import.meta.url))

/** Imports the entry in a child process (see probe-entry.ts), killed if it outlives `timeoutMs`. */
function probeEntry(file: string, type: Manifest['type'], timeoutMs: number): Promise<ProbeReport | { problem: string }> {
  return new Promise((resolve) => {
    // The entry's own output is kept off ours (it would break --json); its stderr explains a crash.
    const child = fork(PROBE, [file, type], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], execArgv: [] })
    let stderr = ''
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-2000)))
    let report: ProbeReport | undefined
    child.once('message', (m: ProbeReport) => (report = m))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      resolve({ problem: `did not finish importing within ${timeoutMs} ms: does its top-level code wait or loop forever? (raise the limit with --timeout)` })
    }, timeoutMs)
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      if (report) return resolve(report)
      const last = stderr.trim().split('\n').filter(Boolean).pop()
      resolve({ problem: `ended the process while being imported (${signal ? `signal ${signal}` : `exit code ${code}`})${last ? `: ${last}` : ''}; a plugin must not exit the process` })
    })
  })
}

function parseTimeout(v: string): number {
  const n = Number(v)
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`must be a positive number of milliseconds (found "${v}")`)
  return n
}
