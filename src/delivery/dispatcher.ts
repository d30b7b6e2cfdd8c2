import { OutriggerError } from '../errors.js'
import type { WorkerSettings } from '../manifest/schema.js'
import type { EventResult, WorkerInstance } from '../hosts/worker-host.js'
import { Latency } from '../supervision/latency.js'
import { keyString, partitionOf, pathGetter } from './partition.js'
import { EventQueue, type Pending } from './queue.js'
import type { DispatchEvents } from './dispatch-events.js'
import { KeyHolds } from './key-holds.js'
import { RetryBackoff } from './retry-backoff.js'
import { sortUnanswered, type DownInfo } from './instance-down.js'
import { batchAcked, batchRefused, type AnswerBooks } from './batch-answers.js'
import { batchRoom, hasRoom, newTarget, sending, serve, type Target } from './targets.js'
import { toWire } from './wire.js'

export { INFLIGHT_BATCHES } from './targets.js'
export type { DispatchEvents, DownInfo }

/** Events per batch: big enough to amortise a message, small enough to keep latency low. */
export const BATCH_MAX = 256

/**
 * Moves events from a worker plugin's queue to its instances and keeps the books (what an
 * instance's answer does to them is in batch-answers.ts).
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
  /** At-least-once with `partitionBy`: a failed event holds back the later events of its key. */
  private readonly holding: boolean
  private readonly holds: KeyHolds
  private readonly backoff: RetryBackoff
  private readonly books: AnswerBooks

  constructor(private readonly cfg: WorkerSettings, private readonly on: DispatchEvents) {
    const partitioned = cfg.partitionBy !== null
    this.key = partitioned ? pathGetter(cfg.partitionBy!) : undefined
    this.holding = partitioned && cfg.delivery !== 'at-most-once'
    this.queue = new EventQueue(partitioned ? cfg.instances : 1, cfg.queue.max)
    this.holds = new KeyHolds(this.queue)
    this.backoff = new RetryBackoff(cfg, (group) => {
      this.requeue(group)
      this.after()
    })
    this.targets = Array.from({ length: cfg.instances }, (_, id) => newTarget(id, cfg.limits.memoryMb))
    this.books = { cfg, counters: this.counters, on, holding: this.holding, holds: this.holds, backoff: this.backoff, latency: this.latency, queue: this.queue, partitioned }
  }

  /** Events waiting to be sent: queued, waiting out a retry backoff, or held behind a failed event of their key. */
  depth(): number {
    return this.queue.depth + this.backoff.waiting + this.holds.parkedCount
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
    let partition = 0
    let key: string | undefined
    if (this.key) {
      const k = this.key(payload)
      partition = partitionOf(k, this.cfg.instances)
      if (this.holding) key = keyString(k)
    }
    const p: Pending = { seq: this.seq++, event, subscription, payload, attempts: journal?.attempts ?? 0, partition, key, suspect: false, journal: journal?.seq }
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
      for (const t of this.targets) {
        while (hasRoom(t) && this.queue.length(t.id) > 0) {
          const head = this.queue.peek(t.id)!
          const batch = this.queue.take(t.id, head.suspect ? 1 : Math.min(BATCH_MAX, batchRoom(t, head.payload)))
          if (this.holds.size === 0) this.send(t, batch)
          else {
            const free = this.holds.withoutHeld(batch)
            if (free.length) this.send(t, free)
          }
        }
      }
      return
    }
    while (this.queue.depth > 0) {
      let best: Target | undefined
      let free = 0
      for (const t of this.targets) {
        if (!hasRoom(t)) continue
        free++
        if (!best || t.load < best.load) best = t
      }
      if (!best) return
      // A burst is shared evenly among the instances with room. An ack covers a whole batch, so
      // a few costly events sent to one instance would keep the others idle until all are done.
      const head = this.queue.peek(0)!
      const size = Math.min(BATCH_MAX, Math.ceil(this.queue.depth / free), batchRoom(best, head.payload))
      this.send(best, this.queue.take(0, head.suspect ? 1 : size))
    }
  }

  private send(t: Target, batch: Pending[]): void {
    const instance = t.instance!
    const wire = toWire(batch)
    this.counters.inFlight += batch.length
    sending(t, batch)
    let sent: Promise<EventResult[]>
    try {
      sent = instance.run(wire, t.failuresSeen)
    } catch (err) {
      sent = Promise.reject(err)
    }
    sent.then(
      (results) => {
        if (batchAcked(this.books, t, instance, batch, results)) this.after()
      },
      (err) => {
        if (batchRefused(this.books, t, instance, batch, err)) this.after()
      },
    )
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
    return this.depth() === 0 && this.counters.inFlight === 0
  }

  /** `instance` now serves `id` and takes work. */
  attach(id: number, instance: WorkerInstance): void {
    const t = this.targets[id]
    serve(t, instance)
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
   * The instance of `id` is gone. What it held is lost, failed, dead-lettered or goes back to the
   * front of the queue, by mode and by how it went down (`sortUnanswered` in instance-down.ts).
   */
  detach(id: number, cause: unknown, how: DownInfo = { hung: false }): void {
    const t = this.targets[id]
    const batches = t.batches
    t.batches = []
    t.load = 0
    t.instance = undefined
    t.accepting = false
    // Holds waiting for these batches wait no more: their events come back right here, first.
    if (this.holds.size !== 0) this.holds.releaseWaitingOn(batches)
    const { unstarted, back } = sortUnanswered(batches, cause, how, this.books)
    this.queue.requeue(unstarted)
    this.requeue(back)
    this.after()
  }

  /**
   * Shutdown: whatever is still queued leaves the books as dead letters or lost events; under
   * durable delivery it stays queued (and in the journal) for the next run.
   */
  abandon(reason: string): void {
    if (this.cfg.delivery === 'durable') {
      // Still in the books (queue.depth) and in the journal; only the retry timers stop.
      this.queue.requeue(this.backoff.drain())
      return
    }
    const left = this.queue.drainAll()
    left.push(...this.backoff.drain(), ...this.holds.drain())
    if (this.cfg.delivery === 'at-least-once') {
      this.counters.deadLettered += left.length
      for (const p of left) this.on.deadLetter(p, { name: 'OutriggerError', code: 'RIG_ERR_CLOSED', message: reason })
    } else this.counters.lost += left.length
  }
}
