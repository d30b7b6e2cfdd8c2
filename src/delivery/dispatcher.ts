import { OutriggerError, errorCode, errorMessage, type SerializedError } from '../errors.js'
import type { WorkerSettings } from '../manifest/schema.js'
import type { EventResult, WireEvent, WorkerInstance } from '../hosts/worker-host.js'
import { Latency } from '../supervision/latency.js'
import { partitionOf, pathGetter } from './partition.js'
import { EventQueue, type Pending } from './queue.js'

/** Events per batch: big enough to amortise a message, small enough to keep latency low. */
export const BATCH_MAX = 256
/** Batches an instance may hold at once: enough to keep it busy while the next one travels. */
export const INFLIGHT_BATCHES = 4

/** One instance id as the dispatcher sees it: the instance behind it now, and what it holds. */
interface Target {
  id: number
  instance: WorkerInstance | undefined
  /** False while its instance is being retired or is gone: it finishes what it has, takes nothing new. */
  accepting: boolean
  /** Batches sent and not yet answered, in send order. */
  batches: Pending[][]
  load: number
}

export interface DispatchEvents {
  /** A final failure worth telling listeners about (hook error, non-cloneable payload, drop). */
  report(event: string, error: unknown): void
  deadLetter(p: Pending, error: SerializedError | null): void
  onIdle(): void
  /** A retired instance has answered every batch it held. */
  retired(id: number): void
  /**
   * The event left the books for good, as `outcome`: a durable queue acks it in its journal.
   */
  settled?(p: Pending, outcome: 'processed' | 'failed' | 'dead-lettered' | 'rejected' | 'dropped'): void
}

/**
 * Moves events from a worker plugin's queue to its instances and keeps the books.
 *
 * Invariant (DESIGN §5), true between any two statements that touch these counters:
 * received = processed + failed + inFlight + depth + dropped + rejected + lost + deadLettered.
 */
export class Dispatcher {
  readonly counters = { received: 0, processed: 0, failed: 0, inFlight: 0, redelivered: 0, deadLettered: 0, lost: 0, dropped: 0, rejected: 0 }
  readonly latency = new Latency()
  private readonly queue: EventQueue
  private readonly targets: Target[]
  private seq = 0
  private flushQueued = false
  private readonly key: ((payload: unknown) => unknown) | undefined

  constructor(private readonly cfg: WorkerSettings, private readonly on: DispatchEvents) {
    const partitioned = cfg.partitionBy !== null
    this.key = partitioned ? pathGetter(cfg.partitionBy!) : undefined
    this.queue = new EventQueue(partitioned ? cfg.instances : 1, cfg.queue.max)
    this.targets = Array.from({ length: cfg.instances }, (_, id) => ({ id, instance: undefined, accepting: false, batches: [], load: 0 }))
  }

  /** Events waiting in the queue (not yet sent to an instance). */
  depth(): number {
    return this.queue.depth
  }

  /**
   * False while the plugin is stopped (its restart policy left every instance down): new events
   * are counted received and dropped at once instead of waiting in a queue nobody serves.
   */
  intake = true

  /**
   * Takes an event from the bus. True when the queue accepted it; false when it was dropped or
   * refused (the queue's overflow policy, or a stopped plugin). Every outcome is counted.
   * `journal` is its journal sequence number and the attempts it already had (durable).
   */
  enqueue(subscription: string, event: string, payload: unknown, journal?: { seq: number; attempts: number }): boolean {
    this.counters.received++
    if (!this.intake) {
      this.counters.dropped++
      return false
    }
    const partition = this.key ? partitionOf(this.key(payload), this.cfg.instances) : 0
    const p: Pending = { seq: this.seq++, event, subscription, payload, attempts: journal?.attempts ?? 0, partition, journal: journal?.seq }
    const out = this.queue.push(p, this.cfg.queue.overflow)
    if (out) {
      this.counters.dropped++
      this.on.settled?.(out, 'dropped')
      if (this.cfg.queue.overflow === 'reject') {
        this.on.report(event, new OutriggerError('RIG_ERR_QUEUE_FULL', `queue full (${this.cfg.queue.max}): event "${event}" refused (overflow "reject"); raise worker.queue.max or add instances`))
      }
    }
    if (this.queue.length(partition) >= BATCH_MAX) this.flush()
    else if (!this.flushQueued) {
      this.flushQueued = true
      queueMicrotask(() => {
        this.flushQueued = false
        this.flush()
      })
    }
    return out !== p
  }

  /**
   * A dead letter's replay: enqueued only while the plugin takes events and its queue has room,
   * so a replay never makes the overflow policy drop another event. False (and nothing counted)
   * when refused: the letter stays where it is.
   */
  offer(subscription: string, event: string, payload: unknown): boolean {
    if (!this.intake || this.queue.depth >= this.cfg.queue.max) return false
    return this.enqueue(subscription, event, payload)
  }

  /** Sends batches to every instance with room, least-loaded first when unpartitioned. */
  flush(): void {
    if (this.key) {
      // A partition's events go to the instance of the same id, and only to it.
      for (const t of this.targets) while (this.hasRoom(t) && this.queue.length(t.id) > 0) this.send(t, this.queue.take(t.id, BATCH_MAX))
      return
    }
    while (this.queue.depth > 0) {
      let best: Target | undefined
      let free = 0
      for (const t of this.targets) {
        if (!this.hasRoom(t)) continue
        free++
        if (!best || t.load < best.load) best = t
      }
      if (!best) return
      // A burst is shared evenly among the instances with room. An ack covers a whole batch, so
      // a few costly events sent to one instance would keep the others idle until all are done.
      const size = Math.min(BATCH_MAX, Math.ceil(this.queue.depth / free))
      this.send(best, this.queue.take(0, size))
    }
  }

  private hasRoom(t: Target): boolean {
    return t.instance !== undefined && t.accepting && t.batches.length < INFLIGHT_BATCHES
  }

  private send(t: Target, batch: Pending[]): void {
    const instance = t.instance!
    const wire: WireEvent[] = new Array(batch.length)
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i]
      p.attempts++
      wire[i] = { seq: p.seq, event: p.event, subscription: p.subscription, payload: p.payload }
    }
    this.counters.inFlight += batch.length
    t.batches.push(batch)
    t.load += batch.length
    let sent: Promise<EventResult[]>
    try {
      sent = instance.run(wire)
    } catch (err) {
      sent = Promise.reject(err)
    }
    sent.then(
      (results) => this.acked(t, instance, batch, results),
      (err) => this.refused(t, instance, batch, err),
    )
  }

  /** Takes a batch off its target; false when the target already gave it up (its instance died). */
  private settle(t: Target, instance: WorkerInstance, batch: Pending[]): boolean {
    const i = t.batches.indexOf(batch)
    if (i < 0 || t.instance !== instance) return false
    t.batches.splice(i, 1)
    t.load -= batch.length
    this.counters.inFlight -= batch.length
    if (!t.accepting && t.batches.length === 0) queueMicrotask(() => this.on.retired(t.id))
    return true
  }

  private acked(t: Target, instance: WorkerInstance, batch: Pending[], results: EventResult[]): void {
    if (!this.settle(t, instance, batch)) return
    const retry: Pending[] = []
    for (let i = 0; i < batch.length; i++) {
      const r = results[i]
      this.latency.record(r.ms)
      if (r.ok) {
        this.counters.processed++
        this.on.settled?.(batch[i], 'processed')
      } else this.failedAttempt(batch[i], r.error, retry)
    }
    if (retry.length) this.requeue(retry)
    this.after()
  }

  private refused(t: Target, instance: WorkerInstance, batch: Pending[], err: unknown): void {
    const code = errorCode(err) ?? undefined
    if (code === 'RIG_ERR_WORKER_EXITED') return // detach() accounts for all the instance held, in order
    if (!this.settle(t, instance, batch)) return
    if (code !== 'RIG_ERR_NOT_CLONEABLE') {
      // The instance lives but refused the batch (a protocol or call error): every event in it
      // failed an attempt.
      const retry: Pending[] = []
      const error = { name: 'Error', code, message: errorMessage(err) }
      for (const p of batch) this.failedAttempt(p, error, retry)
      if (retry.length) this.requeue(retry)
      return this.after()
    }
    // Isolate the bad payloads (Kuzzle's thread crashed on a whole batch); the rest go again,
    // and this sending did not count as an attempt for them.
    const good: Pending[] = []
    for (const p of batch) {
      if (isCloneable(p.payload)) {
        p.attempts--
        good.push(p)
      } else {
        this.counters.rejected++
        this.on.settled?.(p, 'rejected')
        this.on.report(p.event, new OutriggerError('RIG_ERR_NOT_CLONEABLE', `event "${p.event}": its payload cannot be structured-cloned to a worker (functions, symbols, class instances with private state…); send plain data`))
      }
    }
    this.queue.requeue(good)
    this.after()
  }

  /** A handler threw: at-most-once gives up, at-least-once (and durable) tries again until maxAttempts. */
  private failedAttempt(p: Pending, error: SerializedError, retry: Pending[]): void {
    if (this.cfg.delivery === 'at-most-once') {
      this.counters.failed++
      this.on.report(p.event, error)
    } else if (p.attempts >= this.cfg.maxAttempts) {
      this.counters.deadLettered++
      this.on.deadLetter(p, error)
    } else return void retry.push(p)
    this.on.settled?.(p, this.cfg.delivery === 'at-most-once' ? 'failed' : 'dead-lettered')
  }

  private requeue(events: Pending[]): void {
    this.counters.redelivered += events.length
    this.queue.requeue(events)
  }

  private after(): void {
    this.flush()
    if (this.idle()) this.on.onIdle()
  }

  idle(): boolean {
    return this.queue.depth === 0 && this.counters.inFlight === 0
  }

  /** `instance` now serves `id` and takes work. */
  attach(id: number, instance: WorkerInstance): void {
    const t = this.targets[id]
    t.instance = instance
    t.accepting = true
    this.flush()
  }

  /**
   * The instance of `id` takes no new batches and finishes those it holds (a recycle). True when
   * it holds none, so it may go now; otherwise `retired(id)` says when its last batch is answered.
   */
  retire(id: number): boolean {
    const t = this.targets[id]
    t.accepting = false
    return t.batches.length === 0
  }

  /**
   * The instance of `id` is gone. Its unanswered batches, oldest first, are lost (at-most-once) or
   * go back to the front of the queue in their original order (at-least-once).
   */
  detach(id: number, cause: unknown): void {
    const t = this.targets[id]
    const events = t.batches.flat()
    t.batches = []
    t.load = 0
    t.instance = undefined
    t.accepting = false
    this.counters.inFlight -= events.length
    if (this.cfg.delivery === 'at-most-once') this.counters.lost += events.length
    else {
      const error = { name: 'OutriggerError', code: 'RIG_ERR_WORKER_EXITED', message: errorMessage(cause) }
      const retry: Pending[] = []
      for (const p of events) {
        if (p.attempts >= this.cfg.maxAttempts) {
          this.counters.deadLettered++
          this.on.deadLetter(p, error)
          this.on.settled?.(p, 'dead-lettered')
        } else retry.push(p)
      }
      this.requeue(retry)
    }
    this.after()
  }

  /**
   * Shutdown: whatever is still queued leaves the books as dead letters or lost events; under
   * durable delivery it stays queued (and in the journal) for the next run.
   */
  abandon(reason: string): void {
    if (this.cfg.delivery === 'durable') return
    const left = this.queue.drainAll()
    if (this.cfg.delivery === 'at-least-once') {
      this.counters.deadLettered += left.length
      for (const p of left) this.on.deadLetter(p, { name: 'OutriggerError', code: 'RIG_ERR_CLOSED', message: reason })
    } else this.counters.lost += left.length
  }
}

function isCloneable(v: unknown): boolean {
  try {
    structuredClone(v)
    return true
  } catch {
    return false
  }
}
