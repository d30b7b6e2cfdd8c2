/**
 * A worker plugin's sink under durable delivery, end to end: events from `sup.emit` to the last
 * batch written by a no-op `write` in a thread, beside the same sink under at-least-once (the
 * in-memory queue), in paired rounds. Under durable delivery each event a sink gathers is
 * journaled when it is accepted, and its batch takes the place of its events in the journal when
 * it leaves (src/delivery/durable-sink.ts); this measures what that costs.
 *
 * Two batch shapes: `max` 1000 (a batch fills within a group commit at this rate, so most of its
 * events are never written one by one) and `max` 10000 (a batch stays open across many commits,
 * so its events are written, then deleted when the batch takes their place).
 */
import { type Bench, type Row, log, median, pairedRounds, pluginStatus, until, withSupervisor, yieldToLoop } from './common.js'

const N = 200_000
const ROUNDS = 5
const WARMUP = 1
/** Emits between two turns of the event loop, as a busy host would emit them. */
const CHUNK = 2048

type Delivery = 'at-least-once' | 'durable'

const plugin = (delivery: Delivery, max: number): [string, object, string] => [
  'store',
  { type: 'worker', worker: { isolation: 'thread', delivery } },
  `export default { sinks: { 'm:*': { batch: { max: ${max}, maxWaitMs: 20 }, write() {} } } }\n`,
]

interface Sample {
  /** Events/s from the first emit to the last batch written (every event gathered, every batch settled). */
  rate: number
  /** CPU time of the whole process (host and the sink's thread, lmdb's writes included) per event, in µs. */
  cpuUs: number
}

async function sample(delivery: Delivery, max: number): Promise<Sample> {
  return withSupervisor([plugin(delivery, max)], async (sup) => {
    const run = async (n: number, base: number): Promise<Sample> => {
      const cpu0 = process.cpuUsage()
      const t0 = performance.now()
      for (let i = 0; i < n; ) {
        const end = Math.min(n, i + CHUNK)
        for (; i < end; i++) sup.emit('m:tick', { id: i, user: 'alice', tags: ['a', 'b'], amount: 12.5 })
        await yieldToLoop()
      }
      await until('every batch written', () => {
        const s = pluginStatus(sup, 'store').sinks?.['m:*']
        return s !== undefined && s.events === base + n && s.written === s.batches
      }, 120_000, 5)
      const ms = performance.now() - t0
      const cpu = process.cpuUsage(cpu0)
      return { rate: n / (ms / 1000), cpuUs: (cpu.user + cpu.system) / n }
    }
    await run(10_000, 0) // warm-up
    return run(N, 10_000)
  })
}

export const durableSink: Bench = {
  name: 'durable-sink',
  title: `${N / 1000}k events into a worker sink (no-op write, thread): durable against at-least-once`,
  async run(): Promise<Row[]> {
    const rows: Row[] = []
    for (const max of [1000, 10_000]) {
      const r = await pairedRounds(WARMUP, ROUNDS, () => sample('durable', max), () => sample('at-least-once', max))
      const d = median(r.sys.map((x) => x.rate))
      const m = median(r.raw.map((x) => x.rate))
      const dc = median(r.sys.map((x) => x.cpuUs))
      const mc = median(r.raw.map((x) => x.cpuUs))
      log(`batch.max ${max}: at-least-once ${Math.round(m)}/s ${mc.toFixed(2)} µs cpu/event, durable ${Math.round(d)}/s ${dc.toFixed(2)} µs cpu/event`)
      rows.push({ metric: `sink, batch.max ${max}: durable vs at-least-once`, unit: 'events/s', raw: m, system: d, ratio: median(r.sys.map((x, i) => x.rate / r.raw[i].rate)), target: 'info', met: null, note: 'emit → sink batch → no-op write in a thread; commitMs 5, sync disk; paired rounds, median ratio' })
      rows.push({ metric: `sink, batch.max ${max}: CPU per event, durable vs at-least-once`, unit: 'µs', raw: mc, system: dc, ratio: median(r.sys.map((x, i) => x.cpuUs / r.raw[i].cpuUs)), target: 'info', met: null, note: 'process.cpuUsage (host, the sink thread, lmdb) over the run / events; lower is better' })
    }
    return rows
  },
}
