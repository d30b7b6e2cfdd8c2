/**
 * End-to-end events/s to a no-op worker plugin (emit → queue → batch → clone → hook ran → ack
 * counted), per isolation, against the raw batched transport in the same run: worker_threads
 * postMessage, and fork with `serialization: 'advanced'`, both with batches of 256, one ack per
 * batch and at most 4 batches in flight.
 */
import { type Bench, type Row, log, median, pairedRounds, withSupervisor } from './common.js'
import { driveRaw, driveSystem, rawChannel, sinkPlugin } from './worker-load.js'

const ROUNDS = 7
const WARMUP = 1
const N = 300_000

export async function throughput(isolation: 'thread' | 'process'): Promise<Row> {
  const raw = await rawChannel(isolation)
  try {
    return await withSupervisor([sinkPlugin(isolation, N)], async (sup) => {
      const rate = (sample: { ms: number }) => N / (sample.ms / 1000)
      const { sys, raw: base } = await pairedRounds(WARMUP, ROUNDS, () => driveSystem(sup, N).then(rate), () => driveRaw(raw, N).then(rate))
      const s = median(sys)
      const b = median(base)
      // Rounds are paired (system, then raw, back to back): the median of the pairs' ratios
      // cancels drift that a ratio of two medians would keep.
      const ratio = median(sys.map((x, i) => x / base[i]))
      log(`throughput ${isolation}: outrigger ${Math.round(s)} ev/s, raw ${Math.round(b)} ev/s (rounds: ${sys.map(Math.round).join(', ')} | ${base.map(Math.round).join(', ')})`)
      return { metric: `end-to-end to a no-op ${isolation} plugin`, unit: 'events/s', raw: b, system: s, ratio, target: '≥ 0.70 of raw', met: ratio >= 0.7 }
    })
  } finally {
    await raw.close()
  }
}

export const workerThroughput: Bench = {
  name: 'worker-throughput',
  title: 'end-to-end delivery to worker plugins vs raw batched transports',
  async run() {
    return [await throughput('thread'), await throughput('process')]
  },
}
