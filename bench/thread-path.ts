/**
 * The thread path under a user-like load, against the raw transports at their best pipeline
 * depth and against piscina, all in the same run.
 *
 * The load: 100,000 events with a nested payload, emitted 2,048 per turn of the event loop, to a
 * worker plugin whose one hook is a wildcard (`load:*`), with the default store (lmdb) and the
 * default logger. Raw: the same payloads in wire events, batches of 64, the pipeline depth swept
 * over 4…64 batches (`raw-window.ts`), the best depth kept per round. Peers: piscina `run()`, one
 * task per event and one task per 64 events, one thread. Every side is timed from the first send
 * to the last event done, with the host main thread's CPU (Linux schedstat) over the same span.
 *
 *   npm run bench -- thread-path
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Piscina } from 'piscina'
import { startSupervisor, type HostConfigInput, type Supervisor } from '../src/index.js'
import { type Bench, type Row, log, median, pluginStatus, until, yieldToLoop } from './common.js'
import { WINDOWS, bestWindow, steadyBest, type WindowSweep } from './raw-window.js'
import { measure, rawChannel, type LoadSample } from './worker-load.js'

const N = 100_000
/** piscina's one-task-per-event peer runs ~16k tasks/s: a smaller stream keeps the round short. */
const N_SINGLE = 20_000
const RAW_BATCH = 64
const CHUNK = 2048
const WARMUP = 1
const ROUNDS = Number(process.env.OUTRIGGER_BENCH_ROUNDS ?? 5)

/** A payload shaped like a real one: nested objects, an array of records, strings and numbers. */
export function nestedPayload(i: number): object {
  return {
    id: i,
    at: 1_700_000_000_000 + i,
    user: { id: `u-${i % 997}`, name: 'Ada Lovelace', roles: ['admin', 'ops'], tenant: { id: i % 13, region: 'eu-west-1' } },
    items: [
      { sku: 'A-100', qty: 2, price: 9.5 },
      { sku: 'B-200', qty: 1, price: 20 },
    ],
    meta: { source: 'checkout', trace: `t-${i}`, flags: { beta: i % 2 === 0, retry: false } },
  }
}

export async function userHost(isolation: 'thread' | 'process', config: HostConfigInput = {}): Promise<{ sup: Supervisor; close(): Promise<void> }> {
  const root = await mkdtemp(path.join(tmpdir(), 'outrigger-bench-'))
  const dir = path.join(root, 'available', 'audit')
  await mkdir(dir, { recursive: true })
  await mkdir(path.join(root, 'enabled'))
  await writeFile(path.join(root, 'package.json'), '{"type":"module"}\n')
  // queue.max holds a whole stream: the bench measures delivery, not the overflow policy.
  await writeFile(path.join(dir, 'manifest.json'), JSON.stringify({ name: 'audit', version: '1.0.0', type: 'worker', worker: { isolation, queue: { max: 4 * N } } }))
  // The last event of a stream says so: its hook tells a core plugin, which tells the harness,
  // instead of the harness polling the status report (whose cost would count against the host).
  await writeFile(path.join(dir, 'index.js'), `let seen = 0\nexport default { hooks: { 'load:*'(payload, ctx) { if (payload.user) seen++; if (payload.last) ctx.emit('bench:done', { seen }) } } }\n`)
  await symlink(path.join('..', 'available', 'audit'), path.join(root, 'enabled', 'audit'), 'dir')
  const done = path.join(root, 'available', 'done')
  await mkdir(done)
  await writeFile(path.join(done, 'manifest.json'), JSON.stringify({ name: 'done', version: '1.0.0', type: 'core' }))
  await writeFile(path.join(done, 'index.js'), `export default { hooks: { 'bench:done'() { globalThis.${DONE}?.() } } }\n`)
  await symlink(path.join('..', 'available', 'done'), path.join(root, 'enabled', 'done'), 'dir')
  // The defaults: lmdb store under stateDir, the pino logger at "info".
  const sup = await startSupervisor({ app: `bench-${path.basename(root)}`, pluginsDir: path.join(root, 'enabled'), stateDir: path.join(root, 'state'), control: false, http: false, config })
  return { sup, close: () => sup.stop().finally(() => rm(root, { recursive: true, force: true })) }
}

/** The core plugin `done` calls this when the stream's last event has run in the worker. */
const DONE = '__outriggerBenchDone'
const hooks = globalThis as unknown as Record<string, (() => void) | undefined>

/** Emits the stream (its last payload must say `last: true`) and waits until its last event ran. */
export async function driveUser(sup: Supervisor, payloads: readonly object[]): Promise<LoadSample> {
  const n = payloads.length
  const base = pluginStatus(sup, 'audit').events.processed
  const r = await measure(async () => {
    const ran = new Promise<void>((resolve) => (hooks[DONE] = resolve))
    for (let i = 0; i < n; ) {
      const end = Math.min(n, i + CHUNK)
      for (; i < end; i++) sup.emit('load:tick', payloads[i])
      await yieldToLoop()
    }
    await ran
  })
  // Not timed: every event was counted processed (the last batch's ack may still be on its way).
  await until('all events processed', () => pluginStatus(sup, 'audit').events.processed - base >= n, 120_000, 2)
  return { ms: r.ms, emitLoopMs: 0, mainCpuMs: r.mainCpuMs, procCpuMs: r.procCpuMs }
}

async function drivePiscina(pool: Piscina, payloads: readonly object[], perTask: number): Promise<LoadSample> {
  const tasks: Promise<unknown>[] = []
  const r = await measure(async () => {
    for (let i = 0; i < payloads.length; i += perTask) {
      tasks.push(perTask === 1 ? pool.run(payloads[i]) : pool.run({ events: payloads.slice(i, i + perTask) }))
    }
    await Promise.all(tasks)
  })
  return { ms: r.ms, emitLoopMs: 0, mainCpuMs: r.mainCpuMs, procCpuMs: r.procCpuMs }
}

const rate = (n: number, s: LoadSample): number => n / (s.ms / 1000)
const cpuUs = (n: number, s: LoadSample): number => ((s.mainCpuMs ?? NaN) * 1000) / n
const spread = (xs: number[], digits = 2): string => {
  const s = [...xs].sort((a, b) => a - b)
  return `${s[0].toFixed(digits)}–${s[s.length - 1].toFixed(digits)}`
}

interface Round {
  sys: LoadSample
  sweep: WindowSweep
}

export const threadPath: Bench = {
  name: 'thread-path',
  title: 'user-like load (nested payload, wildcard hook, default store and logger) vs raw at its best window and piscina',
  async run() {
    const payloads = Array.from({ length: N }, (_, i) => nestedPayload(i))
    ;(payloads[N - 1] as { last?: boolean }).last = true
    const rows: Row[] = []
    const rounds: Record<'thread' | 'process', Round[]> = { thread: [], process: [] }
    const hosts = { thread: await userHost('thread'), process: await userHost('process') }
    // The same thread plugin with its instance at the host's priority (DESIGN's default lowers
    // it 10 nice steps, which on a busy machine also yields to every other process).
    const equal = await userHost('thread', { workerNice: 0 })
    const equalRuns: LoadSample[] = []
    const raws = { thread: await rawChannel('thread'), process: await rawChannel('process') }
    const piscina = new Piscina({ filename: fileURLToPath(new URL('./piscina-task.js', import.meta.url)), minThreads: 1, maxThreads: 1, idleTimeout: Infinity })
    const peers = { single: [] as LoadSample[], batch: [] as LoadSample[] }
    try {
      // Interleaved: each round runs every side once, so a neighbour's burst hits them alike.
      for (let r = 0; r < WARMUP + ROUNDS; r++) {
        for (const iso of ['thread', 'process'] as const) {
          const sys = await driveUser(hosts[iso].sup, payloads)
          const eq = iso === 'thread' ? await driveUser(equal.sup, payloads) : undefined
          if (eq && r >= WARMUP) equalRuns.push(eq)
          const sweep = await bestWindow(raws[iso], payloads, RAW_BATCH)
          if (r >= WARMUP) rounds[iso].push({ sys, sweep })
          log(`round ${r} ${iso}: outrigger ${Math.round(rate(N, sys))} ev/s, raw by window ${sweep.rates.map(Math.round).join(' / ')} ev/s`)
        }
        const single = await drivePiscina(piscina, payloads.slice(0, N_SINGLE), 1)
        const batch = await drivePiscina(piscina, payloads, RAW_BATCH)
        if (r >= WARMUP) {
          peers.single.push(single)
          peers.batch.push(batch)
        }
      }
    } finally {
      await hosts.thread.close()
      await equal.close()
      await hosts.process.close()
      await raws.thread.close()
      await raws.process.close()
      await piscina.destroy()
    }
    const rawAt: Record<'thread' | 'process', LoadSample[]> = { thread: [], process: [] }
    for (const iso of ['thread', 'process'] as const) {
      const rs = rounds[iso]
      // The raw side at its best depth: the one with the best median over the rounds, taken
      // from the same round as the system's sample (see steadyBest).
      const k = steadyBest(rs.map((x) => x.sweep))
      const raw = (rawAt[iso] = rs.map((x) => x.sweep.samples[k]))
      const ratios = rs.map((x, i) => rate(N, x.sys) / rate(N, raw[i]))
      const strict = rs.map((x) => rate(N, x.sys) / rate(N, x.sweep.best))
      const ratio = median(ratios)
      const target = iso === 'thread' ? 0.75 : 0.8
      rows.push({
        metric: `user-like load, ${iso} (raw: batches of ${RAW_BATCH}, ${WINDOWS[k]} in flight)`,
        unit: 'events/s',
        raw: median(raw.map((x) => rate(N, x))),
        system: median(rs.map((x) => rate(N, x.sys))),
        ratio,
        target: `≥ ${target.toFixed(2)} of raw`,
        met: ratio >= target,
        note: `ratio over rounds ${spread(ratios)}; against the best of each round's sweep (windows ${rs.map((x) => x.sweep.window).join(', ')}): ${median(strict).toFixed(2)} (${spread(strict)})`,
      })
      const cpuRatios = rs.map((x, i) => cpuUs(N, x.sys) / cpuUs(N, raw[i]))
      rows.push({
        metric: `host main-thread CPU per event, ${iso}`,
        unit: 'µs',
        raw: median(raw.map((x) => cpuUs(N, x))),
        system: median(rs.map((x) => cpuUs(N, x.sys))),
        ratio: median(cpuRatios),
        target: 'info (cost: lower is better)',
        met: null,
        note: `cost ratio over rounds ${spread(cpuRatios)}`,
      })
    }
    // All the threads of this process: the host's main thread and, for the thread path, the
    // worker thread. CPU time is what the machine's load does not bend much, unlike the rate.
    const procUs = (s: LoadSample): number => (s.procCpuMs * 1000) / N
    const procRatios = rounds.thread.map((x, i) => procUs(x.sys) / procUs(rawAt.thread[i]))
    rows.push({
      metric: 'process CPU per event (main + worker thread), thread',
      unit: 'µs',
      raw: median(rawAt.thread.map(procUs)),
      system: median(rounds.thread.map((x) => procUs(x.sys))),
      ratio: median(procRatios),
      target: 'info (cost: lower is better)',
      met: null,
      note: `cost ratio over rounds ${spread(procRatios)}`,
    })
    const rawThread = rawAt.thread.map((x) => rate(N, x))
    const eqRatios = equalRuns.map((x, i) => rate(N, x) / rawThread[i])
    rows.push({
      metric: 'user-like load, thread, workerNice 0',
      unit: 'events/s',
      raw: median(rawThread),
      system: median(equalRuns.map((x) => rate(N, x))),
      ratio: median(eqRatios),
      target: '≥ 0.75 of raw',
      met: median(eqRatios) >= 0.75,
      note: `ratio over rounds ${spread(eqRatios)}`,
    })
    for (const [key, label, n] of [['single', 'one task per event', N_SINGLE], ['batch', `one task per ${RAW_BATCH} events`, N]] as const) {
      const samples = peers[key]
      const ratios = samples.map((s, i) => rate(n, s) / rawThread[i])
      rows.push({
        metric: `peer: piscina run(), ${label}`,
        unit: 'events/s',
        raw: median(rawThread),
        system: median(samples.map((s) => rate(n, s))),
        ratio: median(ratios),
        target: 'info (vs raw thread)',
        met: null,
        note: `ratio over rounds ${spread(ratios, 3)}; main-thread CPU ${median(samples.map((s) => cpuUs(n, s))).toFixed(2)} µs/event`,
      })
    }
    const sysThread = rounds.thread.map((x) => rate(N, x.sys))
    const vsPeer = median(peers.batch.map((s, i) => sysThread[i] / rate(N, s)))
    log(`outrigger thread / piscina per-64 tasks: ${vsPeer.toFixed(2)}`)
    return rows
  },
}
