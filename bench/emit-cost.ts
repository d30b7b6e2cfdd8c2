/**
 * What `emit` costs the host when a worker plugin is subscribed. Two figures, both per event:
 * the time spent inside the `sup.emit` loop itself (matching, queueing, and whatever batch gets
 * sent synchronously when a lane fills), and the host's whole CPU bill for the stream (main
 * thread: batching, cloning, acks, bookkeeping), set beside the raw transport's main-thread CPU
 * for the same events.
 */
import { type Bench, type Row, log, median, pairedRounds, withSupervisor } from './common.js'
import { driveRaw, driveSystem, rawChannel, sinkPlugin } from './worker-load.js'

const ROUNDS = 3
const WARMUP = 1
const N = 200_000

async function cost(isolation: 'thread' | 'process'): Promise<Row[]> {
  const raw = await rawChannel(isolation)
  try {
    return await withSupervisor([sinkPlugin(isolation, N)], async (sup) => {
      const rounds = await pairedRounds(WARMUP, ROUNDS, () => driveSystem(sup, N), () => driveRaw(raw, N))
      const perEvent = (ms: number | null) => ((ms ?? NaN) * 1000) / N
      const loop = rounds.sys.map((s) => perEvent(s.emitLoopMs))
      const main = rounds.sys.map((s) => perEvent(s.mainCpuMs))
      const proc = rounds.sys.map((s) => perEvent(s.procCpuMs))
      const rawMain = rounds.raw.map((b) => perEvent(b.mainCpuMs))
      const [l, m, p, rm] = [median(loop), median(main), median(proc), median(rawMain)]
      log(`emit-cost ${isolation}: emit loop ${l.toFixed(3)} µs/ev, main thread ${m.toFixed(3)} µs/ev (raw ${rm.toFixed(3)}), process ${p.toFixed(3)} µs/ev`)
      const procWhat = isolation === 'thread' ? 'host process CPU incl. the worker thread' : 'host process CPU (all host threads)'
      return [
        { metric: `emit loop only (${isolation})`, unit: 'µs/event', raw: null, system: l, ratio: null, target: '≤ 1 µs', met: l <= 1 },
        { metric: `host main-thread CPU (${isolation})`, unit: 'µs/event', raw: rm, system: m, ratio: m / rm, target: '≤ 1 µs', met: m <= 1, note: 'raw = the raw transport’s main-thread CPU; ratio is cost, lower is better' },
        { metric: procWhat, unit: 'µs/event', raw: null, system: p, ratio: null, target: 'info', met: null },
      ]
    })
  } finally {
    await raw.close()
  }
}

export const emitCost: Bench = {
  name: 'emit-cost',
  title: 'emit cost on the host with a worker plugin subscribed',
  async run() {
    return [...(await cost('thread')), ...(await cost('process'))]
  },
}
