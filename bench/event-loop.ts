/**
 * The host's event-loop p99 delay while worker plugins burn 100 % CPU, against the anchor: the
 * same 20 ms listener as a core plugin hook in the main thread at 50 events/s.
 *
 * Workers are fed closed-loop: a few events outstanding per instance at all times, so every
 * instance always has work (100 % busy) yet no backlog builds up (a backlog would turn into
 * 256-event batches, i.e. a 5 s blocked worker and a missed heartbeat).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import type { Supervisor } from '../src/index.js'
import { type Bench, type Row, log, pluginStatus, sleep, withSupervisor } from './common.js'

const SPIN_MS = 20
const MEASURE_MS = 4000
const WARMUP_MS = 1000
/** Sampling period of the delay histogram, the supervisor's own EventLoopMonitor setting. */
const RESOLUTION_MS = 10

const spin = `const spin = () => { const end = performance.now() + ${SPIN_MS}; while (performance.now() < end) {} }\n`
const burner = (name: string, event: string, extra: object): [string, object, string] => [
  name,
  extra,
  `${spin}export default { hooks: { '${event}'() { spin() } } }\n`,
]

interface LoopSample { p99Ms: number; p50Ms: number; maxMs: number }

async function sampleLoop(ms: number): Promise<LoopSample> {
  const h = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
  h.enable()
  await sleep(ms)
  h.disable()
  return { p99Ms: h.percentile(99) / 1e6, p50Ms: h.percentile(50) / 1e6, maxMs: h.max / 1e6 }
}

async function anchor(): Promise<LoopSample> {
  return withSupervisor([burner('inline', 'burn:inline', { type: 'core' })], async (sup) => {
    const timer = setInterval(() => sup.emit('burn:inline', {}), 1000 / 50)
    try {
      await sleep(WARMUP_MS)
      return await sampleLoop(MEASURE_MS - 1000)
    } finally {
      clearInterval(timer)
    }
  })
}

async function withWorkers(instances: number): Promise<{ loop: LoopSample; busy: number }> {
  const plugins = [
    burner('burnt', 'burn:thread', { type: 'worker', worker: { isolation: 'thread', instances } }),
    burner('burnp', 'burn:process', { type: 'worker', worker: { isolation: 'process', instances } }),
  ]
  return withSupervisor(plugins, async (sup: Supervisor) => {
    const feed = (name: string, event: string) => {
      const p = pluginStatus(sup, name)
      // Three outstanding per instance: one running, one queued in the worker, one on its way.
      for (let k = p.queue.depth + p.events.inFlight; k < instances * 3; k++) sup.emit(event, {})
    }
    const timer = setInterval(() => {
      feed('burnt', 'burn:thread')
      feed('burnp', 'burn:process')
    }, 5)
    try {
      await sleep(WARMUP_MS)
      const before = pluginStatus(sup, 'burnt').events.processed + pluginStatus(sup, 'burnp').events.processed
      const loop = await sampleLoop(MEASURE_MS)
      const done = pluginStatus(sup, 'burnt').events.processed + pluginStatus(sup, 'burnp').events.processed - before
      // Share of the worker instances' time spent in hooks: 1.0 means they never idled.
      const busy = (done * SPIN_MS) / (MEASURE_MS * instances * 2)
      return { loop, busy }
    } finally {
      clearInterval(timer)
    }
  })
}

export const eventLoop: Bench = {
  name: 'event-loop',
  title: 'host event-loop p99 while worker plugins burn CPU',
  async run() {
    const a = await anchor()
    log(`event-loop anchor (20 ms core hook at 50/s): p99 ${a.p99Ms.toFixed(2)} ms, max ${a.maxMs.toFixed(2)} ms`)
    const rows: Row[] = []
    for (const instances of [1, 2]) {
      const { loop, busy } = await withWorkers(instances)
      const cores = instances * 2
      log(`event-loop ${instances}+${instances} burning instances: p50 ${loop.p50Ms.toFixed(3)} p99 ${loop.p99Ms.toFixed(3)} max ${loop.maxMs.toFixed(2)} ms; hook time ${(busy * 100).toFixed(0)} % of instance time`)
      rows.push({
        metric: `host loop p99, ${instances} thread + ${instances} process instances burning (${cores} on 2 cores)`,
        unit: 'ms',
        raw: a.p99Ms,
        system: loop.p99Ms,
        ratio: loop.p99Ms / a.p99Ms,
        target: '≤ 1 ms',
        met: loop.p99Ms <= 1,
        note: `raw = anchor (same hook in the main thread); instances spent ${(busy * 100).toFixed(0)} % of their time in hooks; max ${loop.maxMs.toFixed(1)} ms`,
      })
    }
    return rows
  },
}
