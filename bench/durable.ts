/**
 * Durable delivery (issue "Guarantees that outlive the host", §1), the journal on its own and end
 * to end through the supervisor:
 *   (a) the journal's append + commit rate beside raw lmdb batched puts, one per event, in the
 *       same run: with the entries encoded beforehand (the store's own limit for a record per
 *       event), and encoded in the loop (what a journal writing a record per event would pay);
 *   (b) the journal's whole cycle, append + commit + ack (removal committed), beside raw puts then
 *       removes;
 *   (c) the latency of an emitDurable-like call (append, then await its commit), p50 and p99,
 *       beside a raw lmdb put awaited on its own;
 *   (d) the peer a user would pick for durable jobs in another process: BullMQ sandboxed
 *       processors on a real redis-server, same no-op events, concurrency 1 and 8;
 *   (e) the encoding decision: v8 serialization (what the worker IPC uses), per group commit and
 *       per entry, against MessagePack.
 *   (f) end to end through the supervisor: durable against in-memory at-least-once to the same
 *       no-op process plugin, in paired rounds; durable with the default window; and the latency
 *       of `sup.emitDurable`, p50 and p99.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { serialize } from 'node:v8'
import { open } from 'lmdb'
import { Packr } from 'msgpackr'
import { Journal } from '../src/delivery/journal.js'
import { type Bench, type Row, log, median, pairedRounds, withSupervisor, yieldToLoop } from './common.js'
import { startRedis, stopRedis } from './redis.js'
import { driveSystem } from './worker-load.js'

const N = 100_000
const ROUNDS = 3
const WARMUP = 1
/** Appends between two turns of the event loop, as a busy host would emit them. */
const CHUNK = 2048
const LATENCY_SAMPLES = 400
const SYNC = 'disk' as const

const payload = (i: number) => ({ id: i, user: 'alice', tags: ['a', 'b'], amount: 12.5 })

async function scratch<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), 'outrigger-bench-journal-'))
  try {
    return await fn(dir)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/**
 * Raw lmdb: the same entries, one batch of puts per turn, then (optionally) removes. `encoded`
 * hands lmdb buffers encoded beforehand, outside the timing: the store's own limit.
 */
async function rawLmdb(n: number, removeToo: boolean, encoded?: Buffer[]): Promise<number> {
  return scratch(async (dir) => {
    const env = open({ path: dir, compression: false })
    const db = env.openDB<Buffer, number>({ name: 'entries', encoding: 'binary' })
    const t0 = performance.now()
    for (let i = 0; i < n; ) {
      const end = Math.min(n, i + CHUNK)
      for (; i < end; i++) void db.put(i + 1, encoded ? encoded[i] : serialize(['load:tick', payload(i)]))
      await yieldToLoop()
    }
    await env.committed
    await env.flushed
    if (removeToo) {
      for (let i = 0; i < n; ) {
        const end = Math.min(n, i + CHUNK)
        for (; i < end; i++) void db.remove(i + 1)
        await yieldToLoop()
      }
      await env.committed
      await env.flushed
    }
    const ms = performance.now() - t0
    await env.close()
    return n / (ms / 1000)
  })
}

/** The journal: append in chunks per turn (group commit every commitMs), flush; then ack all, flush. */
async function journalCycle(n: number, ackToo: boolean): Promise<number> {
  return scratch(async (dir) => {
    const j = Journal.open(dir, { sync: SYNC })
    const t0 = performance.now()
    const first = j.lastSeq + 1
    for (let i = 0; i < n; ) {
      const end = Math.min(n, i + CHUNK)
      for (; i < end; i++) j.append('load:tick', payload(i))
      await yieldToLoop()
    }
    await j.flush()
    if (ackToo) {
      // Acked after their commit, so every removal really is written (none elided).
      for (let s = first; s < first + n; ) {
        const end = Math.min(first + n, s + CHUNK)
        for (; s < end; s++) j.ack(s)
        await yieldToLoop()
      }
      await j.flush()
    }
    const ms = performance.now() - t0
    await j.close()
    return n / (ms / 1000)
  })
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]

/** One call at a time: the latency a lone emitDurable sees (the window plus the commit). */
async function durableLatency(commitMs: number): Promise<{ p50: number; p99: number }> {
  return scratch(async (dir) => {
    const j = Journal.open(dir, { sync: SYNC, commitMs })
    const ms: number[] = []
    for (let i = 0; i < LATENCY_SAMPLES; i++) {
      const t = performance.now()
      await j.appendDurable('load:tick', payload(i))
      ms.push(performance.now() - t)
    }
    await j.close()
    ms.sort((a, b) => a - b)
    return { p50: pct(ms, 0.5), p99: pct(ms, 0.99) }
  })
}

async function rawLatency(): Promise<{ p50: number; p99: number }> {
  return scratch(async (dir) => {
    const env = open({ path: dir, compression: false })
    const db = env.openDB<Buffer, number>({ name: 'entries', encoding: 'binary' })
    const ms: number[] = []
    for (let i = 0; i < LATENCY_SAMPLES; i++) {
      const t = performance.now()
      await db.put(i + 1, serialize(['load:tick', payload(i)]))
      await env.flushed
      ms.push(performance.now() - t)
    }
    await env.close()
    ms.sort((a, b) => a - b)
    return { p50: pct(ms, 0.5), p99: pct(ms, 0.99) }
  })
}

/**
 * Nanoseconds per entry: v8 over a batch of 256 entries (what the journal pays: one record per
 * group commit), v8 one entry at a time, and MessagePack (lmdb's default) one entry at a time.
 */
function encodeCost(): { v8: number; msgpack: number; v8Batch: number } {
  const packr = new Packr({ structuredClone: true })
  const time = (fn: (i: number) => unknown) => {
    for (let i = 0; i < 20_000; i++) fn(i)
    const t = process.hrtime.bigint()
    for (let i = 0; i < 200_000; i++) fn(i)
    return Number(process.hrtime.bigint() - t) / 200_000
  }
  const batch: unknown[] = []
  const v8Batch = time((i) => {
    batch.push(['load:tick', payload(i)])
    if (batch.length === 256) serialize(batch.splice(0))
  })
  return { v8: time((i) => serialize(['load:tick', payload(i)])), msgpack: time((i) => packr.pack(['load:tick', payload(i)])), v8Batch }
}

// ── the peer: BullMQ sandboxed processors on a real redis-server

async function bullmqRate(port: number, concurrency: number, jobs: number): Promise<number> {
  const { Queue, Worker } = await import('bullmq')
  return scratch(async (dir) => {
    const processor = path.join(dir, 'noop.cjs')
    await writeFile(processor, 'module.exports = async () => undefined\n')
    const connection = { host: '127.0.0.1', port, maxRetriesPerRequest: null }
    const name = `outrigger-bench-${concurrency}`
    const queue = new Queue(name, { connection })
    await queue.obliterate({ force: true })
    await queue.addBulk(Array.from({ length: jobs }, (_, i) => ({ name: 'load:tick', data: payload(i), opts: { removeOnComplete: true, removeOnFail: true } })))
    let done = 0
    let resolveAll!: () => void
    const all = new Promise<void>((r) => (resolveAll = r))
    const t0 = performance.now()
    const worker = new Worker(name, processor, { connection, concurrency })
    worker.on('completed', () => {
      if (++done === jobs) resolveAll()
    })
    worker.on('failed', (_job, err) => log(`bullmq job failed: ${err.message}`))
    await all
    const ms = performance.now() - t0
    await worker.close()
    await queue.obliterate({ force: true })
    await queue.close()
    return jobs / (ms / 1000)
  })
}

async function peerRows(reference: number): Promise<Row[]> {
  const redis = await startRedis()
  if (typeof redis === 'string') {
    log(redis)
    return [1, 8].map((c) => ({ metric: `peer: BullMQ sandboxed, concurrency ${c}`, unit: 'jobs/s', raw: null, system: NaN, ratio: null, target: '≥ 20× BullMQ', met: null, note: `skipped: ${redis}` }))
  }
  try {
    const rows: Row[] = []
    for (const [c, jobs] of [[1, 1500], [8, 4000]] as const) {
      const rate = await bullmqRate(redis.port, c, jobs)
      log(`bullmq sandboxed c=${c}: ${Math.round(rate)} jobs/s (${jobs} jobs)`)
      rows.push({
        metric: `peer: BullMQ sandboxed, concurrency ${c}`,
        unit: 'jobs/s',
        raw: rate,
        system: reference,
        ratio: reference / rate,
        target: '≥ 20× BullMQ',
        met: reference / rate >= 20,
        note: `raw = BullMQ sandboxed processors on redis-server (no persistence), no-op jobs; outrigger = durable delivery end to end to a no-op process plugin (the median of the paired rounds above)`,
      })
    }
    return rows
  } finally {
    await stopRedis(redis.proc)
  }
}

// ── end to end: durable against in-memory at-least-once, through the supervisor

const sink = (delivery: 'at-least-once' | 'durable', max: number): [string, object, string] => ['sink', { type: 'worker', worker: { isolation: 'process', delivery, queue: { max } } }, `export default { hooks: { 'load:tick'() {} } }\n`]

/**
 * Events/s from `sup.emit` to the last event processed by a no-op process plugin with the given
 * delivery and queue.max (for durable: the in-memory window over the journal). Durable waits for
 * the processing, which acks need, not for the commit of the last events: that is `flush`.
 */
export async function endToEndRate(delivery: 'at-least-once' | 'durable', n = 200_000, max = n * 2): Promise<number> {
  return withSupervisor([sink(delivery, max)], async (sup) => {
    await driveSystem(sup, Math.min(n, 20_000)) // warm-up
    const { ms } = await driveSystem(sup, n)
    return n / (ms / 1000)
  })
}

/** `await sup.emitDurable` one at a time to a durable process plugin: the window plus the commit. */
async function emitDurableLatency(commitMs: number): Promise<{ p50: number; p99: number }> {
  return withSupervisor([sink('durable', 10_000)], async (sup) => {
    const ms: number[] = []
    for (let i = 0; i < LATENCY_SAMPLES + 50; i++) {
      const t = performance.now()
      await sup.emitDurable('load:tick', payload(i))
      if (i >= 50) ms.push(performance.now() - t)
    }
    ms.sort((a, b) => a - b)
    return { p50: pct(ms, 0.5), p99: pct(ms, 0.99) }
  }, { journal: { commitMs } })
}

export const durable: Bench = {
  name: 'durable',
  title: 'durable delivery: end to end against at-least-once, emitDurable latency, the lmdb limit, the BullMQ peer',
  async run() {
    const rows: Row[] = []

    const enc = encodeCost()
    log(`encode: v8 per entry ${enc.v8.toFixed(0)} ns, msgpack per entry ${enc.msgpack.toFixed(0)} ns, v8 in batches of 256 ${enc.v8Batch.toFixed(0)} ns/entry`)
    rows.push({ metric: 'encode: v8 per group commit (kept) vs msgpack per entry', unit: 'ns/event', raw: enc.msgpack, system: enc.v8Batch, ratio: enc.v8Batch / enc.msgpack, target: 'info', met: null, note: 'raw = msgpackr, lmdb’s default, one entry at a time; the journal keeps v8, the worker IPC’s own format, so it refuses and restores exactly what a worker gets, and encodes a whole group commit (here 256 entries) in one call; ratio is cost, lower is better' })
    rows.push({ metric: 'encode: v8 per entry (not kept) vs v8 per group commit', unit: 'ns/event', raw: enc.v8Batch, system: enc.v8, ratio: enc.v8 / enc.v8Batch, target: 'info', met: null, note: 'what one v8 record per event would cost: most of v8’s cost is setting up a serializer, once per call' })

    const pre = Array.from({ length: N }, (_, i) => serialize(['load:tick', payload(i)]))
    const store = median((await pairedRounds(WARMUP, ROUNDS, () => rawLmdb(N, false, pre), () => 0)).sys)
    log(`raw lmdb, entries encoded beforehand: ${Math.round(store)}/s`)
    rows.push({ metric: `raw lmdb batched put + commit, pre-encoded (sync ${SYNC})`, unit: 'events/s', raw: store, system: NaN, ratio: null, target: 'the limit', met: null, note: 'the store alone, one put per event, entries encoded outside the timing; the journal writes one record per group commit, so it can pass this' })

    const append = await pairedRounds(WARMUP, ROUNDS, () => journalCycle(N, false), () => rawLmdb(N, false))
    const a = median(append.sys)
    const ra = median(append.raw)
    log(`append+commit: journal ${Math.round(a)}/s, raw lmdb ${Math.round(ra)}/s`)
    rows.push({ metric: `append + commit (sync ${SYNC})`, unit: 'events/s', raw: ra, system: a, ratio: median(append.sys.map((x, i) => x / append.raw[i])), target: 'info', met: null, note: `raw = one lmdb put per event, v8-encoded in the loop, batched per turn, committed and flushed; journal / pre-encoded limit = ${(a / store).toFixed(2)}` })

    const cycle = await pairedRounds(WARMUP, ROUNDS, () => journalCycle(N, true), () => rawLmdb(N, true))
    const c = median(cycle.sys)
    const rc = median(cycle.raw)
    log(`append+commit+ack: journal ${Math.round(c)}/s, raw lmdb ${Math.round(rc)}/s`)
    rows.push({ metric: `append + commit + ack (sync ${SYNC})`, unit: 'events/s', raw: rc, system: c, ratio: median(cycle.sys.map((x, i) => x / cycle.raw[i])), target: 'info', met: null, note: 'raw = one lmdb put per event, then one remove per event; the journal’s acks come after the commit, so no write is elided' })

    const rawLat = await rawLatency()
    for (const commitMs of [5, 0]) {
      const lat = await durableLatency(commitMs)
      log(`appendDurable (commitMs ${commitMs}): p50 ${lat.p50.toFixed(2)} ms, p99 ${lat.p99.toFixed(2)} ms; raw put+flush p50 ${rawLat.p50.toFixed(2)}, p99 ${rawLat.p99.toFixed(2)}`)
      rows.push({ metric: `emitDurable-like latency p50 (commitMs ${commitMs})`, unit: 'ms', raw: rawLat.p50, system: lat.p50, ratio: lat.p50 / rawLat.p50, target: 'info', met: null, note: 'one call at a time; raw = one lmdb put awaited until flushed' })
      rows.push({ metric: `emitDurable-like latency p99 (commitMs ${commitMs})`, unit: 'ms', raw: rawLat.p99, system: lat.p99, ratio: lat.p99 / rawLat.p99, target: 'info', met: null })
    }

    const e2e = await pairedRounds(WARMUP, ROUNDS, () => endToEndRate('durable'), () => endToEndRate('at-least-once'))
    const disk = median(e2e.sys)
    const memory = median(e2e.raw)
    const e2eRatio = median(e2e.sys.map((x, i) => x / e2e.raw[i]))
    log(`end to end to a process plugin: at-least-once ${Math.round(memory)}/s, durable ${Math.round(disk)}/s`)
    rows.push({ metric: 'end-to-end durable vs at-least-once (process)', unit: 'events/s', raw: memory, system: disk, ratio: e2eRatio, target: '≥ 0.50 of at-least-once', met: e2eRatio >= 0.5, note: `same no-op process plugin, same queue.max (${(400_000).toLocaleString('en')}), sync ${SYNC}, commitMs 5; paired rounds, median ratio` })
    rows.push(...(await peerRows(disk)))
    const windowed = await endToEndRate('durable', 200_000, 10_000)
    log(`end to end durable with the default window (queue.max 10,000): ${Math.round(windowed)}/s`)
    rows.push({ metric: 'end-to-end durable, queue.max 10,000 (journal holds the rest)', unit: 'events/s', raw: memory, system: windowed, ratio: windowed / memory, target: 'info', met: null, note: 'past the window events wait in the journal only and are read back from disk' })
    for (const commitMs of [5, 0]) {
      const lat = await emitDurableLatency(commitMs)
      log(`sup.emitDurable (commitMs ${commitMs}): p50 ${lat.p50.toFixed(2)} ms, p99 ${lat.p99.toFixed(2)} ms`)
      rows.push({ metric: `sup.emitDurable latency p50 (commitMs ${commitMs})`, unit: 'ms', raw: rawLat.p50, system: lat.p50, ratio: lat.p50 / rawLat.p50, target: 'info', met: null, note: 'one call at a time, to a durable process plugin; raw = one lmdb put awaited until flushed' })
      rows.push({ metric: `sup.emitDurable latency p99 (commitMs ${commitMs})`, unit: 'ms', raw: rawLat.p99, system: lat.p99, ratio: lat.p99 / rawLat.p99, target: 'info', met: null })
    }
    return rows
  },
}
