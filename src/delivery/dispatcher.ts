import { OutriggerError, deserializeError, errorCode, errorMessage, type SerializedError } from '../errors.js'
import type { WorkerSettings } from '../manifest/schema.js'
import type { EventResult, WireEvent, WorkerInstance } from '../hosts/worker-host.js'
import { Latency } from '../supervision/latency.js'
import { keyString, partitionOf, pathGetter } from './partition.js'
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
  /** Failed events of its current instance taken in so far (`RunMsg.seen`). */
  failuresSeen: number
}

/**
 * A `partitionBy` key held back after one of its events failed (at-least-once): `head` is that
 * event, waiting for its retry or on its way; `parked` are the later events of the key, by seq,
 * released to the front of the queue once `head` has succeeded or left for good. When `head`
 * leaves for good while batches sent before the failure was known are still out (their events
 * of this key come back unrun), `until` is the last of them: the key is released once it is in.
 */
interface Hold {
  head: Pending
  parked: Pending[]
  until?: Pending[]
}

/** How a target's instance went down. */
export interface DownInfo {
  /**
   * Killed because it stopped answering (a blocked event loop): it was silent long enough for
   * every answer it had sent to arrive, so the first unanswered batch is the one it was running
   * and the later ones never started.
   */
  hung: boolean
}

export interface DispatchEvents {
  /** A final failure worth telling listeners about (hook error, non-cloneable payload, drop). */
  report(event: string, error: unknown): void
  deadLetter(p: Pending, error: SerializedError | null): void
  onIdle(): void
  /** A retired instance has answered every batch it held. */
  retired(id: number): void
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
  /** At-least-once with `partitionBy`: a failed event holds back the later events of its key. */
  private readonly holding: boolean
  private readonly holds = new Map<string, Hold>()
  private parkedCount = 0
  /** Failed events waiting out their retry backoff, by timer. */
  private readonly backoff = new Map<NodeJS.Timeout, Pending[]>()
  private backingOff = 0

  constructor(private readonly cfg: WorkerSettings, private readonly on: DispatchEvents) {
    const partitioned = cfg.partitionBy !== null
    this.key = partitioned ? pathGetter(cfg.partitionBy!) : undefined
    this.holding = partitioned && cfg.delivery === 'at-least-once'
    this.queue = new EventQueue(partitioned ? cfg.instances : 1, cfg.queue.max)
    this.targets = Array.from({ length: cfg.instances }, (_, id) => ({ id, instance: undefined, accepting: false, batches: [], load: 0, failuresSeen: 0 }))
  }

  /** Events waiting to be sent: queued, waiting out a retry backoff, or held behind a failed event of their key. */
  depth(): number {
    return this.queue.depth + this.backingOff + this.parkedCount
  }

  /**
   * False while the plugin is stopped (its restart policy left every instance down): new events
   * are counted received and dropped at once instead of waiting in a queue nobody serves.
   */
  intake = true

  /**
   * Takes an event from the bus. True when the queue accepted it; false when it was dropped or
   * refused (the queue's overflow policy, or a stopped plugin). Every outcome is counted.
   */
  enqueue(subscription: string, event: string, payload: unknown): boolean {
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
    const p: Pending = { seq: this.seq++, event, subscription, payload, attempts: 0, partition, key, suspect: false }
    const out = this.queue.push(p, this.cfg.queue.overflow)
    if (out) {
      this.counters.dropped++
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
        while (this.hasRoom(t) && this.queue.length(t.id) > 0) {
          const batch = this.queue.take(t.id, this.queue.peek(t.id)!.suspect ? 1 : BATCH_MAX)
          if (this.holds.size === 0) this.send(t, batch)
          else {
            const free = this.withoutHeld(batch)
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
        if (!this.hasRoom(t)) continue
        free++
        if (!best || t.load < best.load) best = t
      }
      if (!best) return
      // A burst is shared evenly among the instances with room. An ack covers a whole batch, so
      // a few costly events sent to one instance would keep the others idle until all are done.
      const size = Math.min(BATCH_MAX, Math.ceil(this.queue.depth / free))
      this.send(best, this.queue.take(0, this.queue.peek(0)!.suspect ? 1 : size))
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
      sent = instance.run(wire, t.failuresSeen)
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
      if (r.ok) {
        this.latency.record(r.ms)
        this.counters.processed++
        if (this.holds.size !== 0) this.succeeded(batch[i])
      } else if (r.held) this.heldBack(batch[i])
      else {
        this.latency.record(r.ms)
        if (this.holding) t.failuresSeen++
        this.failedAttempt(t, batch[i], r.error, retry)
      }
    }
    if (retry.length) this.retryLater(retry)
    if (this.holds.size !== 0) this.releaseAfter(batch)
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
      for (const p of batch) this.failedAttempt(t, p, error, retry)
      if (retry.length) this.retryLater(retry)
      if (this.holds.size !== 0) this.releaseAfter(batch)
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
    if (this.holds.size !== 0) this.releaseAfter(batch)
    this.after()
  }

  /**
   * A handler threw (or did not settle): at-most-once gives up, at-least-once tries again until
   * maxAttempts. A handler that did not settle within handlerTimeoutMs is not tried again in
   * either mode: it would most likely hang again and hold its instance as long once more.
   */
  private failedAttempt(t: Target, p: Pending, error: SerializedError, retry: Pending[]): void {
    if (this.cfg.delivery === 'at-most-once' || error.code === 'RIG_ERR_HANDLER_TIMEOUT') {
      this.counters.failed++
      // Rebuilt, so listeners of hook:onError see its code.
      this.on.report(p.event, deserializeError(error))
    } else if (p.attempts >= this.cfg.maxAttempts) {
      this.counters.deadLettered++
      this.on.deadLetter(p, error)
    } else return void retry.push(p)
    if (this.holding) this.settledForGood(t, p)
  }

  /**
   * Failed events go back to the front of the queue after the retry backoff (doubling with the
   * attempts made, `worker.retry.backoffMs`), so a failing dependency is not hammered. A crash
   * is not a hook failure: what a dead instance held goes back at once (restarts have their own
   * backoff). With held keys, only a key's first failed event waits for its retry; later ones of
   * the key wait behind it.
   */
  private retryLater(events: Pending[]): void {
    const { initial, max } = this.cfg.retry.backoffMs
    const byDelay = new Map<number, Pending[]>()
    for (const p of events) {
      if (this.holding) {
        const hold = this.holds.get(p.key!)
        if (hold && hold.head !== p) {
          this.park(hold, p)
          continue
        }
        if (hold) hold.until = undefined
        else this.holds.set(p.key!, { head: p, parked: [] })
      }
      const delayMs = Math.min(initial * 2 ** Math.max(0, p.attempts - 1), max)
      const group = byDelay.get(delayMs)
      if (group) group.push(p)
      else byDelay.set(delayMs, [p])
    }
    for (const [delayMs, group] of byDelay) {
      this.backingOff += group.length
      const timer = setTimeout(() => {
        this.backoff.delete(timer)
        this.backingOff -= group.length
        this.requeue(group)
        this.after()
      }, delayMs)
      this.backoff.set(timer, group)
    }
  }

  /** An event ran: if it was its key's held-back failure, the key's later events may go. */
  private succeeded(p: Pending): void {
    const hold = this.holds.get(p.key!)
    if (hold?.head === p) this.release(p.key!, hold)
  }

  /**
   * `p` failed for good (failed or dead-lettered). Its key's later events may go, once the
   * batches sent before its failure was known, whose events of the key come back unrun, are in.
   */
  private settledForGood(t: Target, p: Pending): void {
    const last = t.batches[t.batches.length - 1]
    const hold = this.holds.get(p.key!)
    if (hold && hold.head !== p) return // p itself waited behind an older failure of its key
    if (!last) {
      if (hold) this.release(p.key!, hold)
      return
    }
    if (hold) hold.until = last
    else this.holds.set(p.key!, { head: p, parked: [], until: last })
  }

  /** The runtime did not run `p`: an earlier event of its key had failed there. */
  private heldBack(p: Pending): void {
    p.attempts--
    const hold = this.holds.get(p.key!)
    if (hold) this.park(hold, p)
    else this.queue.requeue([p])
  }

  private park(hold: Hold, p: Pending): void {
    const parked = hold.parked
    let i = parked.length
    while (i > 0 && parked[i - 1].seq > p.seq) i--
    parked.splice(i, 0, p)
    this.parkedCount++
  }

  /** Keeps the events of held keys back (parked by seq); the rest may be sent. */
  private withoutHeld(batch: Pending[]): Pending[] {
    const free: Pending[] = []
    for (const p of batch) {
      const hold = this.holds.get(p.key!)
      if (hold && hold.head !== p) this.park(hold, p)
      else free.push(p)
    }
    return free
  }

  /** Holds waiting for `batch` to come back release their keys. */
  private releaseAfter(batch: Pending[]): void {
    for (const [key, hold] of this.holds) if (hold.until === batch) this.release(key, hold)
  }

  private release(key: string, hold: Hold): void {
    this.holds.delete(key)
    this.parkedCount -= hold.parked.length
    // Parked events are older than any event of the key still queued: they go first.
    this.queue.requeue(hold.parked)
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
    t.instance = instance
    t.accepting = true
    t.failuresSeen = 0
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
   * The instance of `id` is gone. Batches run one after the other, so of its unanswered batches
   * only the oldest can have started: the later ones go back to the front of the queue, in
   * order, without counting an attempt — in both modes when it was killed for hanging (`hung`),
   * and under at-least-once after any exit (an answer may still be on its way when a crashed
   * instance's exit is seen, so at-most-once cannot be sure they did not run).
   *
   * The oldest batch of an instance killed for hanging held the hook that blocked its loop, and
   * the host cannot tell which event that was (the runtime cannot speak while blocked, and a
   * message per event would cost the hot path). When the batch is a single event, that is the
   * one: it fails with RIG_ERR_HANDLER_TIMEOUT, final like a timeout the runtime saw itself.
   * Otherwise under at-least-once its events go back as suspects, without counting an attempt,
   * and are sent one per batch: a second hang then names its event, and the innocent ones are
   * never charged. Under at-most-once they may have run, so they are lost, as after a crash.
   */
  detach(id: number, cause: unknown, how: DownInfo = { hung: false }): void {
    const t = this.targets[id]
    const batches = t.batches
    t.batches = []
    t.load = 0
    t.instance = undefined
    t.accepting = false
    // Holds waiting for these batches wait no more: their events come back right here, first.
    for (const [key, hold] of this.holds) if (hold.until && batches.includes(hold.until)) this.release(key, hold)
    const back: Pending[] = []
    // Never started: back in front of what may have run, and not counted as redelivered.
    const unstarted: Pending[] = []
    for (let b = 0; b < batches.length; b++) {
      const batch = batches[b]
      this.counters.inFlight -= batch.length
      if (b > 0 && (how.hung || this.cfg.delivery === 'at-least-once')) {
        for (const p of batch) {
          p.attempts--
          unstarted.push(p)
        }
      } else if (how.hung && batch.length === 1) {
        const p = batch[0]
        this.counters.failed++
        this.on.report(p.event, new OutriggerError('RIG_ERR_HANDLER_TIMEOUT', `event "${p.event}": its hook blocked the worker's event loop (no heartbeat answer within limits.unresponsiveMs); the instance was killed`, { cause }))
        if (this.holding) this.settledForGood(t, p)
      } else if (this.cfg.delivery === 'at-most-once') this.counters.lost += batch.length
      else if (how.hung) {
        for (const p of batch) {
          p.attempts--
          p.suspect = true
          back.push(p)
        }
      } else {
        const error = { name: 'OutriggerError', code: 'RIG_ERR_WORKER_EXITED', message: errorMessage(cause) }
        for (const p of batch) {
          if (p.attempts >= this.cfg.maxAttempts) {
            this.counters.deadLettered++
            this.on.deadLetter(p, error)
            if (this.holding) this.settledForGood(t, p)
          } else back.push(p)
        }
      }
    }
    this.queue.requeue(unstarted)
    this.requeue(back)
    this.after()
  }

  /** Shutdown: whatever is still queued leaves the books as dead letters or lost events. */
  abandon(reason: string): void {
    const left = this.queue.drainAll()
    for (const [timer, group] of this.backoff) {
      clearTimeout(timer)
      left.push(...group)
    }
    this.backoff.clear()
    this.backingOff = 0
    for (const hold of this.holds.values()) for (const p of hold.parked) left.push(p)
    this.holds.clear()
    this.parkedCount = 0
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
