/**
 * Gathers the events a sink matches into batches: a batch leaves when it holds `max` events, or
 * `maxWaitMs` after its first event arrived, whichever comes first. What becomes of a batch (a
 * worker plugin's queue, a core plugin's `write`) is the owner's business; the batcher keeps the
 * sink's own counters, which the status report and `/metrics` show per sink.
 *
 * Under durable delivery each event comes with its journal sequence number, handed on with the
 * batch, so that the batch can take the place of its events in the journal (durable-sink.ts).
 */
import type { SinkItem } from '../plugin/types.js'

/** A sink's counters. A batch is `written` once its `write` returned, however many attempts it took. */
export interface SinkCounters {
  /** Batches formed (and handed on). */
  batches: number
  /** Events gathered into those batches. */
  events: number
  written: number
  /** Batches whose write failed for good (at-most-once: the first failure). */
  failed: number
  deadLettered: number
  /** Batches dropped or refused by the plugin's queue. */
  dropped: number
  /** Attempts beyond the first, of batches that settled. */
  retries: number
  /** Events gathered for the next batch, not yet handed on. */
  pending: number
}

export type SinkOutcome = 'processed' | 'failed' | 'dead-lettered' | 'rejected' | 'dropped'

export class SinkBatcher {
  readonly counters: SinkCounters = { batches: 0, events: 0, written: 0, failed: 0, deadLettered: 0, dropped: 0, retries: 0, pending: 0 }
  private buf: SinkItem[] = []
  /** `seqs[i]`: the journal sequence number of `buf[i]` (durable delivery; undefined otherwise). */
  private seqs: Array<number | undefined> = []
  private timer: NodeJS.Timeout | undefined

  constructor(
    readonly pattern: string,
    readonly max: number,
    readonly maxWaitMs: number,
    /** Hands a batch on; returns how many of its events it left out (refused by the journal), if any. */
    private readonly out: (batch: SinkItem[], seqs: Array<number | undefined>) => number | void,
  ) {}

  /** Gathers an event; `seq`: its journal sequence number, under durable delivery. */
  add(event: string, payload: unknown, seq?: number): void {
    this.buf.push({ event, payload })
    this.seqs.push(seq)
    this.counters.pending++
    if (this.buf.length >= this.max) this.flush()
    // The clock starts at a batch's first event: a trickle still leaves within maxWaitMs.
    else if (this.timer === undefined) this.timer = setTimeout(this.flush, this.maxWaitMs)
  }

  /** Hands on what is gathered now (at the timer, when full, and before a drain). */
  readonly flush = (): void => {
    clearTimeout(this.timer)
    this.timer = undefined
    if (this.buf.length === 0) return
    const batch = this.buf
    const seqs = this.seqs
    this.buf = []
    this.seqs = []
    this.counters.pending = 0
    const left = this.out(batch, seqs) || 0
    if (left < batch.length) this.counters.batches++
    this.counters.events += batch.length - left
  }

  /** Takes the event journaled as `seq` out of the batch gathering (its journal refused it). */
  remove(seq: number): void {
    const i = this.seqs.indexOf(seq)
    if (i < 0) return
    this.buf.splice(i, 1)
    this.seqs.splice(i, 1)
    this.counters.pending--
    if (this.buf.length === 0) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
  }

  /** A batch left the books: counted by how. `attempts`: how many times it was written. */
  settled(outcome: SinkOutcome, attempts: number): void {
    const c = this.counters
    if (outcome === 'processed') c.written++
    else if (outcome === 'failed') c.failed++
    else if (outcome === 'dead-lettered') c.deadLettered++
    else c.dropped++
    if (attempts > 1) c.retries += attempts - 1
  }

  /** Stops the timer; what is still gathered is handed on first. */
  close(): void {
    this.flush()
  }
}
