/**
 * Shared pieces of the benchmarks: throwaway plugin folders (the same layout the tests use),
 * timing helpers and the result shape that `run.ts` prints.
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { setImmediate as tick } from 'node:timers/promises'
import { startSupervisor } from '../src/index.js'
import type { HostConfigInput, Supervisor } from '../src/index.js'
import type { SupervisorOptions } from '../src/supervisor/types.js'

/** One line of the final table: the system's figure beside the raw one measured in the same run. */
export interface Row {
  metric: string
  unit: string
  raw: number | null
  system: number
  /** system / raw, or raw-anchor-relative where `higherIsBetter` is false (see `ratioOf`). */
  ratio: number | null
  target: string
  met: boolean | null
  note?: string
}

export interface Bench {
  name: string
  title: string
  run(): Promise<Row[]>
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** Wall-clock milliseconds with sub-millisecond precision, comparable across threads and processes. */
/**
 * Runs `system` then `raw`, `warmup + rounds` times, back to back, so drift (thermal, GC,
 * neighbours) hits both sides alike; returns the measured rounds, paired by index.
 */
export async function pairedRounds<T>(warmup: number, rounds: number, system: () => Promise<T> | T, raw: () => Promise<T> | T): Promise<{ sys: T[]; raw: T[] }> {
  const out = { sys: [] as T[], raw: [] as T[] }
  for (let r = 0; r < warmup + rounds; r++) {
    const s = await system()
    const b = await raw()
    if (r < warmup) continue
    out.sys.push(s)
    out.raw.push(b)
  }
  return out
}

export const wallMs = (): number => performance.timeOrigin + performance.now()

export const yieldToLoop = (): Promise<void> => tick().then(() => undefined)
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Waits for a state, never a fixed time; throws with `what` past the deadline. */
export async function until(what: string, ok: () => boolean, deadlineMs = 30_000, pollMs = 1): Promise<void> {
  const end = Date.now() + deadlineMs
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`)
    await sleep(pollMs)
  }
}

export const log = (line: string): void => void process.stderr.write(`  ${line}\n`)

/** A throwaway plugins folder: `available/` holds the plugins, `enabled/` links to them. */
export class BenchPlugins {
  private constructor(readonly root: string) {}

  static async create(): Promise<BenchPlugins> {
    const root = await mkdtemp(path.join(tmpdir(), 'outrigger-bench-'))
    await mkdir(path.join(root, 'available'))
    await mkdir(path.join(root, 'enabled'))
    await writeFile(path.join(root, 'package.json'), '{"type":"module"}\n')
    return new BenchPlugins(root)
  }

  async add(name: string, manifest: object, code: string): Promise<void> {
    const dir = path.join(this.root, 'available', name)
    await mkdir(dir, { recursive: true })
    await writeFile(path.join(dir, 'manifest.json'), JSON.stringify({ name, version: '1.0.0', ...manifest }))
    await writeFile(path.join(dir, 'index.js'), code)
    await symlink(path.join('..', 'available', name), path.join(this.root, 'enabled', name), 'dir')
  }

  /** A library-mode supervisor: memory store, no control socket, no HTTP, silent logs. */
  start(config: HostConfigInput = {}, opts: Pick<SupervisorOptions, 'handleProcessErrors'> = {}): Promise<Supervisor> {
    return startSupervisor({
      ...opts,
      app: `bench-${path.basename(this.root)}`,
      pluginsDir: path.join(this.root, 'enabled'),
      stateDir: path.join(this.root, 'state'),
      store: 'memory',
      control: false,
      http: false,
      config: { logLevel: 'silent', ...config },
    })
  }

  remove(): Promise<void> {
    return rm(this.root, { recursive: true, force: true })
  }
}

/** Starts a supervisor on fresh plugins, runs `fn`, and always cleans up. */
export async function withSupervisor<T>(
  plugins: Array<[string, object, string]>,
  fn: (sup: Supervisor) => Promise<T>,
  config?: HostConfigInput,
  opts?: Pick<SupervisorOptions, 'handleProcessErrors'>,
): Promise<T> {
  const dir = await BenchPlugins.create()
  let sup: Supervisor | undefined
  try {
    for (const [name, manifest, code] of plugins) await dir.add(name, manifest, code)
    sup = await dir.start(config, opts)
    return await fn(sup)
  } finally {
    await sup?.stop()
    await dir.remove()
  }
}

export const pluginStatus = (sup: Supervisor, name: string) => {
  const p = sup.status().plugins.find((x) => x.name === name)
  if (!p) throw new Error(`plugin ${name} is not loaded`)
  return p
}

export const fmt = (n: number | null, digits = 2): string => {
  if (n === null || !Number.isFinite(n)) return '–'
  const abs = Math.abs(n)
  if (abs >= 1e6) return `${(n / 1e6).toFixed(digits)}M`
  if (abs >= 1e4) return `${(n / 1e3).toFixed(1)}k`
  if (abs >= 100) return n.toFixed(0)
  if (abs >= 10) return n.toFixed(1)
  return n.toFixed(digits)
}
