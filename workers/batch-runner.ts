/**
 * The in-worker batch loop: runs a plugin's hooks on batches, in order, one event at a time. It is
 * the hot path of every event, so it lives apart from the plugin's lifecycle (runtime.ts) and
 * keeps to plain loops: one clock read per event, no microtask hop for a synchronous hook. It
 * also owns what can stop an event mid-batch: the hook watchdog, the `partitionBy` hold-back, the
 * memory check of a thread.
 */
import { performance } from 'node:perf_hooks'
import type { HookFn, PluginContext } from '../src/plugin/types.js'
import type { BatchFailure, WireEvent, WorkerSpec } from '../src/worker-protocol.js'
import { OutriggerError, serializeError } from '../src/errors.js'
import { explainDenied } from '../src/plugin/access-denied.js'
import { keyString, pathGetter } from '../src/delivery/partition.js'
import type { MemoryWatch } from './memory-watch.js'

/** A batch's outcome, as `RanMsg` carries it. */
export type RanOutcome = { ms: Float64Array; failures: BatchFailure[]; held: number[] }

/** A batch being run, and what is known of it so far. */
interface Run {
  batch: WireEvent[]
  seen: number
  /** The event running now (or next). */
  i: number
  ms: Float64Array
  failures: BatchFailure[]
  held: number[]
  done: (outcome: RanOutcome) => void
}

/** Longest stretch of synchronous hooks before the runtime lets control messages through. */
const YIELD_MS = 20

export class BatchRunner {
  /** When the running hook started (performance.now()), 0 while idle: heartbeats report it. */
  busySince = 0
  private spec: WorkerSpec | undefined
  private hooks: Record<string, HookFn> = {}
  private ctx: PluginContext | undefined
  // Batches may arrive while earlier ones still run (the host pipelines them); chaining them here
  // keeps events in order whatever the transport does.
  private tail: Promise<unknown> = Promise.resolve()
  private current: Run | undefined
  /** Bumped for every new runner of a batch; an older runner that wakes up stops. */
  private runner = 0
  private watchdog: NodeJS.Timeout | undefined
  /** At-least-once with `partitionBy`: the key of a payload (see `holdBack`). */
  private keyOf: ((payload: unknown) => unknown) | undefined
  /** Keys held back, each with the number of the failure that holds it. */
  private readonly heldKeys = new Map<string, number>()
  private failureCount = 0

  /** @param memoryWatch reads a thread's memory between heartbeats, every few ms of hook time. */
  constructor(private readonly memoryWatch: MemoryWatch) {}

  /** The instance's spec, known before the plugin loads. */
  configure(spec: WorkerSpec): void {
    this.spec = spec
    this.keyOf = spec.holdKeysBy ? pathGetter(spec.holdKeysBy) : undefined
  }

  /** The loaded plugin's hooks, and the context they run with. */
  use(hooks: Record<string, HookFn>, ctx: PluginContext): void {
    this.hooks = hooks
    this.ctx = ctx
  }

  /** Runs a batch after every batch handed in before it; never rejects. `seen`: see `RunMsg.seen`. */
  run(batch: WireEvent[], seen = 0): Promise<RanOutcome> {
    const done = this.tail.then(
      () =>
        new Promise<RanOutcome>((resolve) => {
          const run: Run = { batch, seen, i: 0, ms: new Float64Array(batch.length), failures: [], held: [], done: resolve }
          this.current = run
          this.armWatchdog(this.spec!.limits.handlerTimeoutMs)
          void this.drive(run, ++this.runner)
        }),
    )
    this.tail = done
    return done
  }

  /** Resolves once every batch handed in so far has run; the watchdog stops. */
  async finish(): Promise<void> {
    await this.tail
    clearTimeout(this.watchdog)
  }

  /**
   * Runs `run` from its current event to its end, unless a newer runner takes over: when the
   * watchdog gives up on a hook that does not settle, it starts a new runner at the next event,
   * and this one, should the hook ever settle, finds `runner` moved on and leaves quietly.
   */
  private async drive(run: Run, me: number): Promise<void> {
    const { batch, ms } = run
    const hooks = this.hooks
    const ctx = this.ctx as PluginContext
    let slice = performance.now()
    // One clock read per event: each event's end is the next one's start.
    let t0 = slice
    for (; run.i < batch.length; run.i++) {
      const i = run.i
      const ev = batch[i]
      this.busySince = t0
      // A batch of synchronous hooks would otherwise hold the loop for the whole batch, and
      // heartbeats (answered on this loop) would wait: give them a turn every YIELD_MS.
      if (t0 - slice > YIELD_MS) {
        await new Promise((r) => setImmediate(r))
        if (me !== this.runner) return
        slice = t0 = this.busySince = performance.now()
      }
      if (this.heldKeys.size !== 0 && this.holdBack(run, ev)) continue
      let threw = false
      let error: unknown
      try {
        const hook = hooks[ev.subscription]
        if (typeof hook !== 'function') throw new OutriggerError('RIG_ERR_UNKNOWN_TARGET', `plugin has no hook "${ev.subscription}"`)
        const r = hook(ev.payload, ctx, { event: ev.event, subscription: ev.subscription }) as PromiseLike<unknown> | undefined
        // Awaiting only real promises keeps a synchronous hook free of a microtask hop per event.
        if (r !== null && typeof r === 'object' && typeof r.then === 'function') await r
      } catch (err) {
        threw = true
        error = err
      }
      // Given up on by the watchdog while we waited: the event is accounted for, another runner goes on.
      if (me !== this.runner) return
      if (threw) this.failed(run, i, error)
      const t1 = performance.now()
      ms[i] = t1 - t0
      t0 = t1
      if (t1 >= this.memoryWatch.due) {
        const halt = this.memoryWatch.check(t1, this.spec!.limits.memoryMb)
        if (halt) await halt
      }
    }
    this.busySince = 0
    this.current = undefined
    run.done({ ms, failures: run.failures, held: run.held })
  }

  /**
   * One timer per instance, not one per event: it wakes at the earliest moment the running hook
   * could be overdue, and re-arms itself from `busySince` while hooks keep finishing in time.
   *
   * Why the worker times hooks out itself: a hook that never settles (a lost network answer)
   * leaves the event loop free, so this timer runs, the event fails with
   * RIG_ERR_HANDLER_TIMEOUT, and the batch goes on — no kill, nothing else lost or retried. A
   * hook that blocks the loop (a synchronous endless loop) stops this timer too; only the host
   * can end that, by killing the instance when heartbeats go unanswered.
   */
  private armWatchdog(delayMs: number): void {
    if (this.watchdog !== undefined) return
    this.watchdog = setTimeout(() => {
      this.watchdog = undefined
      this.checkOverdue()
    }, delayMs)
    this.watchdog.unref()
  }

  private checkOverdue(): void {
    const run = this.current
    if (!run || this.busySince === 0) return // idle: the next batch arms the timer again
    const limit = this.spec!.limits.handlerTimeoutMs
    const ranMs = performance.now() - this.busySince
    if (ranMs < limit) return this.armWatchdog(Math.max(1, Math.ceil(limit - ranMs)))
    const i = run.i
    const ev = run.batch[i]
    run.ms[i] = ranMs
    this.failed(run, i, new OutriggerError('RIG_ERR_HANDLER_TIMEOUT', `plugin "${this.spec!.plugin}": hook "${ev.subscription}" on "${ev.event}" did not settle within ${limit} ms (limits.handlerTimeoutMs); the worker gave up on it and went on with the next event`))
    run.i++
    void this.drive(run, ++this.runner)
    this.armWatchdog(limit)
  }

  private failed(run: Run, i: number, err: unknown): void {
    // A refusal of the permission model says which worker.permissions field would allow it.
    run.failures.push({ i, error: serializeError(explainDenied(err)) })
    if (this.keyOf) this.heldKeys.set(keyString(this.keyOf(run.batch[i].payload)), ++this.failureCount)
  }

  /**
   * `partitionBy` order under retries: after an event of key K failed here, the later events of
   * K that the host sent before it saw that failure must not overtake its retry. They go back
   * unrun; the host keeps them behind the retry. A batch sent after the host saw the failure
   * (`seen` reaches its number) is already in the right order, and K runs again.
   */
  private holdBack(run: Run, ev: WireEvent): boolean {
    const key = keyString(this.keyOf!(ev.payload))
    const failure = this.heldKeys.get(key)
    if (failure === undefined) return false
    if (run.seen >= failure) {
      this.heldKeys.delete(key)
      return false
    }
    run.held.push(run.i)
    run.ms[run.i] = 0
    return true
  }
}
