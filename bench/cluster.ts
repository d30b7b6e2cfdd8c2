/**
 * Cluster mode (issue "Beyond one machine"), on a real redis-server started here (skipped, with a
 * message, when the binary is missing):
 *   (a) throughput of the cluster path: two supervisors in this process, both running a no-op
 *       `placement: "cluster"` thread plugin (2 instances each); events emitted on one, counted
 *       once processed on either; beside raw ioredis in the same run: one client pipelining XADD
 *       in batches of 256 (the producer's batch), one reading with XREADGROUP COUNT 512 (the
 *       reader's) and acking each read with one XACK, same payloads, same v8 encoding;
 *   (b) BullMQ, the peer a user would pick, with the same events and a no-op in-process processor;
 *   (c) the latency from `emit` on one node to processed on the other, p50 and p99, at a steady
 *       moderate rate (not a flood).
 */
import { serialize } from 'node:v8'
import { Redis } from 'ioredis'
import { BenchPlugins, type Bench, type Row, log, median, pairedRounds, until, wallMs, yieldToLoop } from './common.js'
import type { Supervisor } from '../src/index.js'
import { HAVE_REDIS, startRedis, stopRedis } from './redis.js'

const N = 50_000
const ROUNDS = 3
const CHUNK = 1000
const payload = (i: number) => ({ id: i, user: 'alice', tags: ['a', 'b'], amount: 12.5, t: 0 })

/** Raw Redis Streams: XADD pipelined 256 at a time while a reader takes 512 per XREADGROUP and acks each read. */
async function rawStreams(port: number, n: number, round: number): Promise<number> {
  const prod = new Redis({ port, protocol: 2 })
  const cons = new Redis({ port, protocol: 2 })
  const key = `raw:${round}:${Date.now()}`
  await cons.xgroup('CREATE', key, 'g', '0', 'MKSTREAM')
  const t0 = performance.now()
  const reader = (async () => {
    let acked = 0
    while (acked < n) {
      const got = (await cons.callBuffer('XREADGROUP', 'GROUP', 'g', 'c', 'COUNT', 512, 'BLOCK', 1000, 'STREAMS', key, '>')) as Array<[Buffer, Array<[Buffer, Buffer[]]>]> | null
      if (!got) continue
      const ids = got[0][1].map(([id]) => id)
      await cons.xack(key, 'g', ...ids)
      acked += ids.length
    }
  })()
  for (let i = 0; i < n; ) {
    const pipe = prod.pipeline()
    const end = Math.min(n, i + 256)
    for (; i < end; i++) pipe.xadd(key, '*', 'd', serialize(['load:tick', 'load:tick', payload(i)]))
    await pipe.exec()
  }
  await reader
  const ms = performance.now() - t0
  await prod.del(key)
  prod.disconnect()
  cons.disconnect()
  return n / (ms / 1000)
}

const processedOf = (sups: Supervisor[]) => sups.reduce((s, sup) => s + (sup.status().plugins.find((p) => p.name === 'sink')?.events.processed ?? 0), 0)

/** The cluster path: emit on `a`, processed on a or b. */
async function clusterRate(a: Supervisor, b: Supervisor, n: number): Promise<number> {
  const before = processedOf([a, b])
  const t0 = performance.now()
  for (let i = 0; i < n; ) {
    const end = Math.min(n, i + CHUNK)
    for (; i < end; i++) a.emit('load:tick', payload(i))
    await yieldToLoop()
  }
  // A coarse poll: the status report is not free, and this process also runs both nodes.
  await until('the cluster processed every event', () => processedOf([a, b]) - before >= n, 120_000, 10)
  return n / ((performance.now() - t0) / 1000)
}

async function bullmqRate(port: number, n: number): Promise<number> {
  const { Queue, Worker } = await import('bullmq')
  const connection = { host: '127.0.0.1', port, maxRetriesPerRequest: null }
  const name = `outrigger-bench-cluster-${Date.now()}`
  const queue = new Queue(name, { connection })
  let done = 0
  let all!: () => void
  const finished = new Promise<void>((r) => (all = r))
  const worker = new Worker(name, async () => undefined, { connection, concurrency: 16 })
  worker.on('completed', () => ++done === n && all())
  const t0 = performance.now()
  for (let i = 0; i < n; i += CHUNK) {
    await queue.addBulk(Array.from({ length: Math.min(CHUNK, n - i) }, (_, j) => ({ name: 'load:tick', data: payload(i + j), opts: { removeOnComplete: true, removeOnFail: true } })))
  }
  await finished
  const rate = n / ((performance.now() - t0) / 1000)
  await worker.close()
  await queue.obliterate({ force: true })
  await queue.close()
  return rate
}

const SINK = `
const lat = []
export default {
  hooks: { 'load:tick'(p) { if (p.t) lat.push(performance.timeOrigin + performance.now() - p.t) } },
  functions: { lat() { return lat.splice(0) } },
}
`

/** Emit on a → processed on b: the samples b's instances took (the group gives a its share too). */
async function latency(a: Supervisor, b: Supervisor, samples: number): Promise<number[]> {
  for (let i = 0; i < samples; i++) {
    a.emit('load:tick', { ...payload(i), t: wallMs() })
    // A steady 1,000 events/s: a latency, not a queue under a flood.
    if (i % 10 === 9) await new Promise((r) => setTimeout(r, 10))
  }
  await until('every latency sample is processed', () => processedOf([a, b]) >= samples, 60_000)
  const got: number[] = []
  // Round robin over b's two instances: four calls reach each twice.
  for (let k = 0; k < 4; k++) got.push(...(await b.call<number[]>('sink.lat')))
  await Promise.all([0, 1, 2, 3].map(() => a.call('sink.lat')))
  return got.sort((x, y) => x - y)
}

export const cluster: Bench = {
  name: 'cluster',
  title: 'cluster path on Redis Streams against raw XADD + XREADGROUP + XACK, BullMQ, and emit → processed on another node',
  async run(): Promise<Row[]> {
    if (!HAVE_REDIS) {
      log("skipped: no redis-server on PATH (install Debian's redis-server package to run the cluster benchmark)")
      return [{ metric: 'cluster delivery', unit: 'events/s', raw: null, system: NaN, ratio: null, target: '≥ 0.6× raw', met: null, note: 'skipped: no redis-server on PATH' }]
    }
    const redis = await startRedis()
    if (typeof redis === 'string') throw new Error(redis)
    const dirs = [await BenchPlugins.create(), await BenchPlugins.create()]
    const sups: Supervisor[] = []
    try {
      const name = `bench-${process.pid}`
      for (const [i, dir] of dirs.entries()) {
        await dir.add('sink', { type: 'worker', worker: { placement: 'cluster', instances: 2 } }, SINK)
        sups.push(await dir.start({ cluster: { redis: `redis://127.0.0.1:${redis.port}`, name, nodeId: `n${i}`, beatMs: 500 } }))
      }
      const [a, b] = sups
      let round = 0
      const { sys, raw } = await pairedRounds(1, ROUNDS, () => clusterRate(a, b, N), () => rawStreams(redis.port, N, round++))
      sys.forEach((s, i) => log(`round ${i + 1}: cluster ${Math.round(s)} events/s, raw ${Math.round(raw[i])} events/s (${(s / raw[i]).toFixed(2)}×)`))
      const ratios = sys.map((s, i) => s / raw[i])
      const sysRate = median(sys)
      const bull = await bullmqRate(redis.port, 20_000)
      log(`bullmq: ${Math.round(bull)} jobs/s`)
      const lat = await latency(a, b, 2000)
      const pct = (q: number) => lat[Math.min(lat.length - 1, Math.floor(q * lat.length))]
      log(`emit on one node → processed on the other, ${lat.length} samples: p50 ${pct(0.5).toFixed(2)} ms, p99 ${pct(0.99).toFixed(2)} ms`)
      return [
        { metric: 'cluster delivery (2 nodes, 2 thread instances each)', unit: 'events/s', raw: median(raw), system: sysRate, ratio: median(ratios), target: '≥ 0.6× raw', met: median(ratios) >= 0.6, note: `raw = one ioredis client pipelining XADD ×256, another XREADGROUP COUNT 512 + XACK per read, same v8-encoded payloads; ratio = median of ${ROUNDS} paired rounds of ${N} events` },
        { metric: 'peer: BullMQ, no-op processor, concurrency 16', unit: 'events/s', raw: bull, system: sysRate, ratio: sysRate / bull, target: 'ahead of BullMQ', met: sysRate > bull, note: 'raw = BullMQ in this process (addBulk ×1000, no-op async processor, removeOnComplete), 20,000 jobs' },
        { metric: 'emit → processed on another node, p50', unit: 'ms', raw: null, system: pct(0.5), ratio: null, target: '–', met: null },
        { metric: 'emit → processed on another node, p99', unit: 'ms', raw: null, system: pct(0.99), ratio: null, target: '–', met: null, note: 'a steady 1,000 events/s emitted on one node; the samples are those the other node processed (both supervisors share this process and machine, so one clock)' },
      ]
    } finally {
      for (const s of sups) await s.stop()
      for (const d of dirs) await d.remove()
      await stopRedis(redis.proc)
    }
  },
}
