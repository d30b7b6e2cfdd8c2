import { OutriggerError, errorCode, errorMessage, type SerializedError } from '../errors.js'
import type { WorkerSettings } from '../manifest/schema.js'
import type { EventResult, WireEvent, WorkerInstance } from '../hosts/worker-host.js'
import { Latency } from '../supervisor/latency.js'
import { laneOf, pathGetter } from './partition.js'
import { EventQueue, type Pending } from './queue.js'

/** Events per batch: big enough to amortise a message, small enough to keep latency low. */
export const BATCH_MAX = 256
/** Batches an instance may hold at once: enough to keep it busy while the next one travels. */
export const INFLIGHT_BATCHES = 4

/** An instance as the dispatcher sees it. */
export interface Lane {
  id: number
  instance: WorkerInstance | undefined
  /** False while an instance is being recycled or stopped: it finishes what it has, takes nothing new. */
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
  /** A lane that takes no new batches (being recycled) has answered all it had. */
  onLaneEmptied(laneId: number): void
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
  readonly queue: EventQueue
  readonly lanes: Lane[]
  private seq = 0
  private flushQueued = false
  private readonly key: ((payload: unknown) => unknown) | undefined

  constructor(private readonly cfg: WorkerSettings, private readonly on: DispatchEvents) {
    const partitioned = cfg.partitionBy !== null
    this.key = partitioned ? pathGetter(cfg.partitionBy!) : undefined
    this.queue = new EventQueue(partitioned ? cfg.instances : 1, cfg.queue.max)
    this.lanes = Array.from({ length: cfg.instances }, (_, id) => ({ id, instance: undefined, accepting: false, batches: [], load: 0 }))
  }

  enqueue(subscription: string, event: string, payload: unknown): void {
    this.counters.received++
    const lane = this.key ? laneOf(this.key(payload), this.cfg.instances) : 0
    const p: Pending = { seq: this.seq++, event, subscription, payload, attempts: 0, lane }
    const out = this.queue.push(p, this.cfg.queue.overflow)
    if (out) {
      this.counters.dropped++
      if (this.cfg.queue.overflow === 'reject') {
        this.on.report(event, new OutriggerError('RIG_ERR_QUEUE_FULL', `queue full (${this.cfg.queue.max}): event "${event}" refused (overflow "reject"); raise worker.queue.max or add instances`))
      }
    }
    if (this.queue.laneLength(lane) >= BATCH_MAX) this.flush()
    else if (!this.flushQueued) {
      this.flushQueued = true
      queueMicrotask(() => {
        this.flushQueued = false
        this.flush()
      })
    }
  }

  /** Sends batches to every instance with room, least-loaded first when unpartitioned. */
  flush(): void {
    if (this.key) {
      for (const lane of this.lanes) while (this.hasRoom(lane) && this.queue.laneLength(lane.id) > 0) this.send(lane, this.queue.take(lane.id, BATCH_MAX))
      return
    }
    while (this.queue.depth > 0) {
      let best: Lane | undefined
      let free = 0
      for (const lane of this.lanes) {
        if (!this.hasRoom(lane)) continue
        free++
        if (!best || lane.load < best.load) best = lane
      }
      if (!best) return
      // A burst is shared evenly among the instances with room. An ack covers a whole batch, so
      // a few costly events sent to one instance would keep the others idle until all are done.
      const size = Math.min(BATCH_MAX, Math.ceil(this.queue.depth / free))
      this.send(best, this.queue.take(0, size))
    }
  }

  private hasRoom(lane: Lane): boolean {
    return lane.instance !== undefined && lane.accepting && lane.batches.length < INFLIGHT_BATCHES
  }

  private send(lane: Lane, batch: Pending[]): void {
    const instance = lane.instance!
    const wire: WireEvent[] = new Array(batch.length)
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i]
      p.attempts++
      wire[i] = { seq: p.seq, event: p.event, subscription: p.subscription, payload: p.payload }
    }
    this.counters.inFlight += batch.length
    lane.batches.push(batch)
    lane.load += batch.length
    let sent: Promise<EventResult[]>
    try {
      sent = instance.run(wire)
    } catch (err) {
      sent = Promise.reject(err)
    }
    sent.then(
      (results) => this.acked(lane, instance, batch, results),
      (err) => this.refused(lane, instance, batch, err),
    )
  }

  /** Takes a batch off its lane; false when the lane already gave it up (its instance died). */
  private settle(lane: Lane, instance: WorkerInstance, batch: Pending[]): boolean {
    const i = lane.batches.indexOf(batch)
    if (i < 0 || lane.instance !== instance) return false
    lane.batches.splice(i, 1)
    lane.load -= batch.length
    this.counters.inFlight -= batch.length
    if (!lane.accepting && lane.batches.length === 0) queueMicrotask(() => this.on.onLaneEmptied(lane.id))
    return true
  }

  private acked(lane: Lane, instance: WorkerInstance, batch: Pending[], results: EventResult[]): void {
    if (!this.settle(lane, instance, batch)) return
    const retry: Pending[] = []
    for (let i = 0; i < batch.length; i++) {
      const r = results[i]
      this.latency.record(r.ms)
      if (r.ok) this.counters.processed++
      else this.failedAttempt(batch[i], r.error, retry)
    }
    if (retry.length) this.requeue(retry)
    this.after()
  }

  private refused(lane: Lane, instance: WorkerInstance, batch: Pending[], err: unknown): void {
    const code = errorCode(err) ?? undefined
    if (code === 'RIG_ERR_WORKER_EXITED') return // laneDown() accounts for the whole lane, in order
    if (!this.settle(lane, instance, batch)) return
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
        this.on.report(p.event, new OutriggerError('RIG_ERR_NOT_CLONEABLE', `event "${p.event}": its payload cannot be structured-cloned to a worker (functions, symbols, class instances with private state…); send plain data`))
      }
    }
    this.queue.requeue(good)
    this.after()
  }

  /** A handler threw: at-most-once gives up, at-least-once tries again until maxAttempts. */
  private failedAttempt(p: Pending, error: SerializedError, retry: Pending[]): void {
    if (this.cfg.delivery === 'at-most-once') {
      this.counters.failed++
      this.on.report(p.event, error)
    } else if (p.attempts >= this.cfg.maxAttempts) {
      this.counters.deadLettered++
      this.on.deadLetter(p, error)
    } else retry.push(p)
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

  attach(laneId: number, instance: WorkerInstance): void {
    const lane = this.lanes[laneId]
    lane.instance = instance
    lane.accepting = true
    this.flush()
  }

  /**
   * The lane's instance is gone. Its unanswered batches, oldest first, are lost (at-most-once) or
   * go back to the front of the queue in their original order (at-least-once).
   */
  laneDown(laneId: number, cause: unknown): void {
    const lane = this.lanes[laneId]
    const events = lane.batches.flat()
    lane.batches = []
    lane.load = 0
    lane.instance = undefined
    lane.accepting = false
    this.counters.inFlight -= events.length
    if (this.cfg.delivery === 'at-most-once') this.counters.lost += events.length
    else {
      const error = { name: 'OutriggerError', code: 'RIG_ERR_WORKER_EXITED', message: errorMessage(cause) }
      const retry: Pending[] = []
      for (const p of events) {
        if (p.attempts >= this.cfg.maxAttempts) {
          this.counters.deadLettered++
          this.on.deadLetter(p, error)
        } else retry.push(p)
      }
      this.requeue(retry)
    }
    this.after()
  }

  /** Shutdown: whatever is still queued leaves the books as dead letters or lost events. */
  abandon(reason: string): void {
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
