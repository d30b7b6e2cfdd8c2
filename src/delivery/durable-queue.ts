import { OutriggerError, errorMessage } from '../errors.js'
import type { Dispatcher } from './dispatcher.js'
import { GatheredEvents, gatheredFor } from './durable-sink.js'
import { Journal, type JournalEntry } from './journal.js'
import type { Pending } from './queue.js'

export interface DurableQueueOptions {
  /** `<stateDir>/journal/<plugin>`. */
  dir: string
  /** Host config `journal.commitMs`. */
  commitMs: number
  /** The in-memory window (`worker.queue.max`): events past it wait in the journal only. */
  window: number
  dispatcher: Dispatcher
  /** An event that waited on disk only was refused at its commit (not cloneable): report it. */
  report(event: string, err: OutriggerError): void
  /** The journal failed (a commit did not go through): report it. */
  failed(err: OutriggerError): void
  /** Events moved from disk into the window (or none were left): the owner may be idle now. */
  refilled(): void
}

/**
 * Durable delivery: the queue of a worker plugin whose source of truth is its journal.
 *
 * Every event is appended to the journal (in emit order) before the dispatcher sees it; the
 * dispatcher's queue is only a window of at most `window` events. When the window is full, or
 * while older events still wait on disk, a new event is appended and *parked*: it is received and
 * queued (counted in `queue.depth`), but its payload lives only in the journal until the window
 * has room again, when it is read back in order. What an earlier run left is read back the same
 * way, first, and counted `recovered` (and `received`, `redelivered`) as it enters the window. So
 * nothing is dropped for want of room, and a key's events keep their order across runs.
 *
 * An event is acked in the journal once it has left the books for good (processed, dead-lettered,
 * rejected); one still queued at stop stays in the journal for the next run.
 *
 * Events a sink gathers are journaled too, and go to the sink rather than to the window, when
 * gathered and when read back; their batch takes their place (`gathered`, durable-sink.ts).
 */
export class DurableQueue {
  readonly journal: Journal
  /** The events the plugin's sinks gather: journaled, and read back into the sinks. */
  readonly gathered: GatheredEvents
  /** Entries of earlier runs read back in this run (a sink's gathered events aside: they are gathered again). */
  recovered = 0
  /** Events received in this run that wait in the journal only (the window was full). */
  parked = 0
  /** While `emitDurable` runs: the commits it waits for. */
  capture: Array<Promise<void>> | undefined
  private parkNext = 0
  private parkThrough = 0
  /** What an earlier run left, read lazily; undefined once all of it entered the window. */
  private backlog: Generator<JournalEntry> | undefined
  private reading = false
  private refillQueued = false
  private closed = false
  private readonly d: Dispatcher

  constructor(private readonly opts: DurableQueueOptions) {
    this.d = opts.dispatcher
    this.gathered = new GatheredEvents(this)
    this.journal = Journal.open(opts.dir, {
      commitMs: opts.commitMs,
      onRefused: (seq, err, meta) => this.refusedAtCommit(seq, err, meta),
      onError: (err) => opts.failed(err),
    })
    if (this.journal.recoveredLastSeq > 0) this.backlog = this.journal.recover()
    this.refill()
  }

  /** Nothing waits on disk: the window holds all there is. */
  empty(): boolean {
    return this.backlog === undefined && this.parked === 0
  }

  /**
   * An emit matched the plugin's hook `subscription`; or a sink's batch leaves (`replaces`: the
   * events gathered into it, which it replaces in the journal in the same transaction).
   */
  enqueue(subscription: string, event: string, payload: unknown, replaces?: readonly number[]): void {
    let seq: number
    try {
      seq = replaces?.length ? this.journal.replace(replaces, event, payload, subscription) : this.journal.append(event, payload, subscription)
    } catch (err) {
      // A failed journal (already reported): deliver in memory, like at-least-once; every
      // emitDurable and flush rejects from now on, so nobody is promised durability.
      this.capture?.push(Promise.reject(err))
      this.d.enqueue(subscription, event, payload)
      return
    }
    this.capture?.push(this.journal.committed(seq))
    if (this.backlog || this.parked > 0 || this.d.depth() >= this.opts.window) {
      if (this.parked++ === 0) this.parkNext = seq
      this.parkThrough = seq
    } else this.d.enqueue(subscription, event, payload, { seq, attempts: 0 })
  }

  /**
   * A dead letter's replay: journaled and queued only while the plugin takes events, nothing
   * waits on disk and the window has room; false (nothing counted) otherwise.
   */
  offer(subscription: string, event: string, payload: unknown): boolean {
    if (!this.d.intake || !this.empty() || this.d.depth() >= this.opts.window) return false
    this.enqueue(subscription, event, payload)
    return true
  }

  /**
   * The dispatcher is done with `p` for good. A rejected payload is not acked: the journal refuses
   * it at its commit too (it cannot be written), and whoever awaits that commit hears of it.
   */
  settled(p: Pending, outcome: string): void {
    if (p.journal !== undefined && outcome !== 'rejected') this.journal.ack(p.journal)
    if (!this.refillQueued && !this.empty()) {
      this.refillQueued = true
      // After the dispatcher's own flush in this turn, which makes the room.
      queueMicrotask(() => {
        this.refillQueued = false
        this.refill()
      })
    }
  }

  /** Fills the window from disk, oldest first: what an earlier run left, then what this run parked. */
  refill(): void {
    if (this.closed) return
    let room = this.opts.window - this.d.depth()
    while (this.backlog && room > 0) {
      const r = this.backlog.next()
      if (r.done) {
        this.backlog = undefined
        break
      }
      const e = r.value
      // Gathered for a sink: back to it, gathered again (not a receipt, takes no room).
      if (gatheredFor(e.meta) !== undefined) {
        this.gathered.recovered(e)
        continue
      }
      this.recovered++
      this.d.counters.redelivered++
      this.d.enqueue(e.meta as string, e.event, e.payload, { seq: e.seq, attempts: e.attempts })
      room--
    }
    // Parked events are read back in chunks of at least a quarter of the window, each read
    // waiting for a commit and decoding whole group-commit records.
    if (!this.backlog && this.parked > 0 && !this.reading && room >= Math.ceil(this.opts.window / 4)) this.readParked()
    this.opts.refilled()
  }

  private readParked(): void {
    const from = this.parkNext
    const through = this.parkThrough
    this.reading = true
    // Parked entries are read from disk, so their commit must be done: hurry it.
    this.journal.flush().then(
      () => {
        this.reading = false
        if (this.closed) return
        let room = this.opts.window - this.d.depth()
        let next = through + 1
        for (const e of this.journal.read(from, through)) {
          // Gathered for a sink, not parked: its sink holds it.
          if (gatheredFor(e.meta) !== undefined) continue
          if (room-- <= 0) {
            next = e.seq
            break
          }
          // Received when parked: the dispatcher counts it again, the parked count lets it go.
          this.parked--
          this.d.enqueue(e.meta as string, e.event, e.payload, { seq: e.seq, attempts: e.attempts })
        }
        this.parkNext = next
        this.refill()
      },
      (err) => {
        // The journal failed: what waited on disk only cannot be read back in this run.
        this.reading = false
        this.d.counters.received += this.parked
        this.d.counters.lost += this.parked
        this.parked = 0
        this.opts.failed(err instanceof OutriggerError ? err : new OutriggerError('RIG_ERR_JOURNAL', errorMessage(err)))
        this.opts.refilled()
      },
    )
  }

  /** The owner's report of an event's final failure (logged, `hook:onError`). */
  report(event: string, err: OutriggerError): void {
    this.opts.report(event, err)
  }

  /** A parked event refused at its commit never reaches the dispatcher: it is rejected here. */
  private refusedAtCommit(seq: number, err: OutriggerError, meta: unknown): void {
    const sink = gatheredFor(meta)
    if (sink !== undefined) return this.gathered.refused(sink, seq, err)
    if (this.parked === 0 || seq < this.parkNext || seq > this.parkThrough) return // the dispatcher rejects it
    // Received when parked: the receipt moves to the dispatcher's books, as rejected.
    this.parked--
    this.d.counters.received++
    this.d.counters.rejected++
    this.opts.report(String((err.details as { event?: unknown } | undefined)?.event ?? ''), err)
  }

  /** Commits what is buffered (acks included) and closes the journal; what is queued stays in it. */
  async close(): Promise<void> {
    this.closed = true
    this.backlog?.return(undefined)
    this.backlog = undefined
    await this.journal.close()
  }
}
