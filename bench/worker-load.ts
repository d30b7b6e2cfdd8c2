/**
 * Drives a stream of events to a no-op worker plugin, and the same stream over a raw transport,
 * measuring wall time and host CPU. Shared by the throughput and the emit-cost benchmarks.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { Supervisor } from '../src/index.js'
import { pluginStatus, until, yieldToLoop } from './common.js'

export const BATCH = 256
/** Same as the dispatcher's limit, so the raw pipeline is as deep as the real one. */
export const IN_FLIGHT = 4
/** Events emitted between two turns of the event loop. */
const CHUNK = 2048

export const sinkPlugin = (isolation: 'thread' | 'process', n: number): [string, object, string] => [
  'sink',
  { type: 'worker', worker: { isolation, queue: { max: n * 2 } } },
  `export default { hooks: { 'load:tick'() {} } }\n`,
]

export interface LoadSample {
  /** First emit (or send) to the last event processed. */
  ms: number
  /** Time spent inside `sup.emit` loops (0 for raw). */
  emitLoopMs: number
  /** CPU of the host's main thread alone (Linux schedstat; null elsewhere). */
  mainCpuMs: number | null
  /** CPU of the whole host process (all its threads). */
  procCpuMs: number
}

const SCHEDSTAT = `/proc/self/task/${process.pid}/schedstat`
/** The main thread's own on-CPU time: excludes worker threads and V8's helper threads. */
function mainThreadCpuMs(): number | null {
  try {
    return Number(readFileSync(SCHEDSTAT, 'utf8').split(' ')[0]) / 1e6
  } catch {
    return null
  }
}
const procCpuMs = (): number => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

export function measure<T>(fn: () => Promise<T>): Promise<{ ms: number; mainCpuMs: number | null; procCpuMs: number; value: T }> {
  const m0 = mainThreadCpuMs()
  const p0 = procCpuMs()
  const t0 = performance.now()
  return fn().then((value) => {
    const ms = performance.now() - t0
    const m1 = mainThreadCpuMs()
    return { ms, mainCpuMs: m0 === null || m1 === null ? null : m1 - m0, procCpuMs: procCpuMs() - p0, value }
  })
}

/**
 * Emits `n` events the way a busy host would: in chunks, letting the loop turn between chunks
 * (so acks are read and the dispatcher keeps its 4 batches in flight), then waits until the
 * plugin has processed all of them.
 */
export async function driveSystem(sup: Supervisor, n: number): Promise<LoadSample> {
  const base = pluginStatus(sup, 'sink').events.processed
  const r = await measure(async () => {
    let emitLoopMs = 0
    for (let i = 0; i < n; ) {
      const end = Math.min(n, i + CHUNK)
      const t = performance.now()
      for (; i < end; i++) sup.emit('load:tick', { i })
      emitLoopMs += performance.now() - t
      await yieldToLoop()
    }
    // status() is not free (memory figures, a percentile sort): polling it every 4 ms keeps the
    // harness's share of the host's CPU near 1 % at the cost of ≤ 4 ms on the end time.
    await until('all events processed', () => pluginStatus(sup, 'sink').events.processed - base >= n, 120_000, 4)
    return emitLoopMs
  })
  return { ms: r.ms, emitLoopMs: r.value, mainCpuMs: r.mainCpuMs, procCpuMs: r.procCpuMs }
}

/** A raw transport: post a batch, hear one ack per batch. */
export interface RawChannel {
  post(batch: unknown[]): void
  /** `fn` hears the number of events the batch held. */
  onAck(fn: (count: number) => void): void
  close(): Promise<void>
}

/**
 * The raw baseline: the same events (same object shape as the supervisor's wire events), in
 * batches of 256, with at most 4 batches unacknowledged — a bounded pipeline, like the
 * dispatcher's, so the baseline does not win by flooding the channel.
 */
export function driveRaw(ch: RawChannel, n: number): Promise<LoadSample> {
  return pumpRaw(ch, n, (i) => ({ i }), BATCH, IN_FLIGHT, 'load:tick')
}

/**
 * Posts `n` events (the payload of event i from `payloadAt`) in batches of `batch`, with at most
 * `window` batches unacknowledged: the next batch is built and posted when an ack comes back.
 */
export function pumpRaw(ch: RawChannel, n: number, payloadAt: (i: number) => unknown, batch: number, window: number, subscription: string): Promise<LoadSample> {
  let seq = 0
  let sent = 0
  let acked = 0
  let inFlight = 0
  return measure(
    () =>
      new Promise<void>((resolve) => {
        const pump = (): void => {
          while (inFlight < window && sent < n) {
            const size = Math.min(batch, n - sent)
            const out = new Array(size)
            for (let k = 0; k < size; k++) out[k] = { seq: seq++, event: 'load:tick', subscription, payload: payloadAt(sent + k) }
            sent += size
            inFlight++
            ch.post(out)
          }
        }
        ch.onAck((count) => {
          inFlight--
          acked += count
          if (acked >= n) resolve()
          else pump()
        })
        pump()
      }),
  ).then((r) => ({ ms: r.ms, emitLoopMs: 0, mainCpuMs: r.mainCpuMs, procCpuMs: r.procCpuMs }))
}

export async function rawThread(): Promise<RawChannel> {
  const w = new Worker(fileURLToPath(new URL('./raw-thread-worker.js', import.meta.url)))
  await new Promise((r) => w.once('online', r))
  let ack: (count: number) => void = () => {}
  w.on('message', (count: number) => ack(count))
  return { post: (b) => w.postMessage(b), onAck: (fn) => (ack = fn), close: () => w.terminate().then(() => undefined) }
}

export async function rawFork(): Promise<RawChannel> {
  const child: ChildProcess = fork(fileURLToPath(new URL('./raw-fork-child.js', import.meta.url)), [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] })
  await new Promise((r) => child.once('spawn', r))
  let ack: (count: number) => void = () => {}
  child.on('message', (count) => ack(count as number))
  return {
    post: (b) => void child.send(b),
    onAck: (fn) => (ack = fn),
    close: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve())
        child.disconnect()
      }),
  }
}

export const rawChannel = (isolation: 'thread' | 'process'): Promise<RawChannel> => (isolation === 'thread' ? rawThread() : rawFork())

