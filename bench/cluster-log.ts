/**
 * The coordination log of a cluster (issue "Beyond one machine"), on a real redis-server started
 * here: two supervisors in this process, both appending entries of a core plugin at once, each
 * applying every entry to its replica, in one total order.
 *   (a) rate: N entries (half from each node, up to 256 in flight per node) until both nodes
 *       applied the last one; beside raw ioredis in the same run: two writers pipelining XADD
 *       (auto ids: no order check, no replica) and two readers following the stream with XREAD;
 *   (b) latency: one entry at a time appended on one node, until the other applied it.
 */
import { Redis } from 'ioredis'
import type { Supervisor } from '../src/index.js'
import { BenchPlugins, type Bench, type Row, log, median, pairedRounds, until } from './common.js'
import { HAVE_REDIS, startRedis, stopRedis } from './redis.js'

const N = 10_000
const ROUNDS = 3
const IN_FLIGHT = 256
const SAMPLES = 300

const BOARD = `
const seen = []
export default (ctx) => ({
  coordination: { 'board/put': { apply: (a, r) => ({ n: (r.meta?.board?.n ?? 0) + 1, last: a.i }) } },
  init() { ctx.coordination.on('board/put', (a) => { if (a.t) seen.push(performance.now() - a.t) }) },
  functions: { seen: () => seen.splice(0) },
})`

/** Appends `n` entries from `sup`, at most IN_FLIGHT waiting at once. */
async function appendFrom(sup: Supervisor, n: number, tag: number): Promise<void> {
  let next = 0
  const lane = async () => {
    while (next < n) await sup.coordination.propose('board', 'board/put', { i: next++, tag })
  }
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane))
}

async function logRate(a: Supervisor, b: Supervisor): Promise<number> {
  const target = a.coordination.log.committed + N
  const t0 = performance.now()
  await Promise.all([appendFrom(a, N / 2, 0), appendFrom(b, N / 2, 1)])
  await until('both nodes applied every entry', () => a.coordination.log.committed >= target && b.coordination.log.committed >= target, 120_000)
  return N / ((performance.now() - t0) / 1000)
}

/** Raw: two writers XADD with auto ids, pipelined, while two readers XREAD the stream to the end. */
async function rawRate(port: number, round: number): Promise<number> {
  const key = `rawlog:${round}`
  const clients = Array.from({ length: 4 }, () => new Redis({ port, protocol: 2 }))
  const [w1, w2, r1, r2] = clients
  const t0 = performance.now()
  const write = async (w: Redis, tag: number) => {
    for (let i = 0; i < N / 2; ) {
      const pipe = w.pipeline()
      const end = Math.min(N / 2, i + IN_FLIGHT)
      for (; i < end; i++) pipe.xadd(key, '*', 'e', JSON.stringify({ type: 'board/put', args: { i, tag }, at: Date.now() }))
      await pipe.exec()
    }
  }
  const read = async (r: Redis) => {
    let last = '0-0'
    let n = 0
    while (n < N) {
      const got = (await r.xread('COUNT', 512, 'BLOCK', 1000, 'STREAMS', key, last)) as Array<[string, Array<[string, string[]]>]> | null
      if (!got) continue
      for (const [id, fields] of got[0][1]) {
        JSON.parse(fields[1])
        last = id
        n++
      }
    }
  }
  await Promise.all([write(w1, 0), write(w2, 1), read(r1), read(r2)])
  const rate = N / ((performance.now() - t0) / 1000)
  await w1.del(key)
  for (const c of clients) c.disconnect()
  return rate
}

/** Append on a, one at a time; b's core plugin notes when it applied each. */
async function latency(a: Supervisor, b: Supervisor): Promise<number[]> {
  await b.call('board.seen')
  for (let i = 0; i < SAMPLES; i++) {
    const seq = await a.coordination.propose('board', 'board/put', { i, tag: 2, t: performance.now() })
    await until('the other node applied it', () => b.coordination.log.committed >= seq, 10_000)
  }
  return (await b.call<number[]>('board.seen')).sort((x, y) => x - y)
}

export const clusterLog: Bench = {
  name: 'cluster-log',
  title: "a cluster's coordination log on a Redis Stream: two nodes appending at once, against raw XADD + XREAD",
  async run(): Promise<Row[]> {
    if (!HAVE_REDIS) {
      log("skipped: no redis-server on PATH (install Debian's redis-server package to run the cluster benchmarks)")
      return [{ metric: 'cluster log', unit: 'entries/s', raw: null, system: NaN, ratio: null, target: '–', met: null, note: 'skipped: no redis-server on PATH' }]
    }
    const redis = await startRedis()
    if (typeof redis === 'string') throw new Error(redis)
    const dirs = [await BenchPlugins.create(), await BenchPlugins.create()]
    const sups: Supervisor[] = []
    try {
      for (const [i, dir] of dirs.entries()) {
        await dir.add('board', { type: 'core' }, BOARD)
        sups.push(await dir.start({ cluster: { redis: `redis://127.0.0.1:${redis.port}`, name: `bench-log-${process.pid}`, nodeId: `n${i}`, beatMs: 500 } }))
      }
      const [a, b] = sups
      let round = 0
      const { sys, raw } = await pairedRounds(1, ROUNDS, () => logRate(a, b), () => rawRate(redis.port, round++))
      sys.forEach((s, i) => log(`round ${i + 1}: cluster log ${Math.round(s)} entries/s, raw ${Math.round(raw[i])} entries/s (${(s / raw[i]).toFixed(2)}×)`))
      const ratios = sys.map((s, i) => s / raw[i])
      const lat = await latency(a, b)
      const pct = (q: number) => lat[Math.min(lat.length - 1, Math.floor(q * lat.length))]
      log(`append on one node → applied on the other, ${lat.length} samples: p50 ${pct(0.5).toFixed(2)} ms, p99 ${pct(0.99).toFixed(2)} ms`)
      return [
        { metric: 'entries appended by 2 nodes and applied on both', unit: 'entries/s', raw: median(raw), system: median(sys), ratio: median(ratios), target: '–', met: null, note: `raw = 2 ioredis writers pipelining XADD ×${IN_FLIGHT} (auto ids, no order check) and 2 readers XREAD COUNT 512; ratio = median of ${ROUNDS} paired rounds of ${N} entries` },
        { metric: 'append on one node → applied on the other, p50', unit: 'ms', raw: null, system: pct(0.5), ratio: null, target: '–', met: null },
        { metric: 'append on one node → applied on the other, p99', unit: 'ms', raw: null, system: pct(0.99), ratio: null, target: '–', met: null, note: `${SAMPLES} entries one at a time; both nodes share this process, so one clock` },
      ]
    } finally {
      for (const s of sups) await s.stop()
      for (const d of dirs) await d.remove()
      await stopRedis(redis.proc)
    }
  },
}
