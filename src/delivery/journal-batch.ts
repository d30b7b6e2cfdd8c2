import type { Database } from 'lmdb'
import type { OutriggerError } from '../errors.js'
import { type EntryTuple, encodeBatch } from './journal-codec.js'
import type { Segment, SegmentTable } from './journal-segments.js'

/** The journal's stores a batch writes to. */
export interface BatchStores {
  records: Database<Buffer, number>
  ackedDb: Database<Buffer, number>
  attemptsDb: Database<number, number>
}

/**
 * What the next group commit writes: the appends, acks, removals and attempt counts gathered since
 * the last one. The journal starts a new one as it hands this one to lmdb.
 */
export class PendingBatch {
  /** Appends not yet handed to lmdb; `entries[i]` is sequence `base + i` (undefined once acked). */
  readonly entries: Array<EntryTuple | undefined> = []
  /** Segments whose acks changed since the last batch. */
  readonly touched = new Set<Segment>()
  readonly removes: number[] = []
  readonly attempts = new Map<number, number>()

  constructor(readonly base: number) {}

  /** The last sequence number this batch holds (`base - 1` when it holds no append). */
  get through(): number {
    return this.base + this.entries.length - 1
  }

  isEmpty(): boolean {
    return this.entries.length === 0 && this.touched.size === 0 && this.removes.length === 0 && this.attempts.size === 0
  }

  /**
   * Acks `seq` if this batch still buffers it, so it is never written: true if it was live, false
   * if acked already; undefined when it is not in this batch.
   */
  elide(seq: number): boolean | undefined {
    const i = seq - this.base
    if (i < 0 || i >= this.entries.length) return undefined
    const live = this.entries[i] !== undefined
    this.entries[i] = undefined
    return live
  }

  /**
   * Acks a stored entry with this batch: noted beside its record, or the record removed once every
   * entry in it is acked. False when the entry is unknown or acked already.
   */
  ackStored(seq: number, segments: SegmentTable): boolean {
    const seg = segments.of(seq)
    if (!seg || seg.acked[seq - seg.start]) return false
    seg.acked[seq - seg.start] = 1
    if (--seg.live === 0) {
      this.removes.push(seg.start)
      this.touched.delete(seg)
      segments.drop(seg)
    } else this.touched.add(seg)
    return true
  }

  /**
   * Drops (and reports through `refuse`) those of `seqs` still buffered here whose payload cannot
   * be cloned, as their commit would; returns their numbers. One encode of those entries.
   */
  refuseUncloneable(seqs: readonly number[], refuse: (seq: number, err: OutriggerError, meta: unknown) => void): number[] {
    const at: number[] = []
    const tuples: EntryTuple[] = []
    for (const seq of seqs) {
      const i = seq - this.base
      const e = i >= 0 ? this.entries[i] : undefined
      if (e === undefined) continue
      at.push(i)
      tuples.push(e)
    }
    if (tuples.length === 0) return []
    return encodeBatch(tuples).refused.map(([k, err, meta]) => {
      this.entries[at[k]] = undefined
      refuse(this.base + at[k], err, meta)
      return this.base + at[k]
    })
  }

  /**
   * Issues the batch's writes. Call them all in one synchronous turn: lmdb batches the writes of a
   * turn into a single transaction. `attemptsKnown` (the attempt counts stored) is kept in step.
   */
  write(stores: BatchStores, segments: SegmentTable, attemptsKnown: Map<number, number>, refuse: (seq: number, err: OutriggerError, meta: unknown) => void): void {
    const { entries, base } = this
    let live = 0
    for (const e of entries) if (e !== undefined) live++
    if (live > 0) {
      const { bytes, refused } = encodeBatch(entries)
      for (const [i, err, meta] of refused) refuse(base + i, err, meta)
      live -= refused.length
      if (live > 0) {
        void stores.records.put(base, bytes)
        const acked = new Uint8Array(entries.length)
        for (let i = 0; i < entries.length; i++) if (entries[i] === undefined) acked[i] = 1
        segments.push({ start: base, length: entries.length, live, acked, dead: false })
      }
    }
    for (const seg of this.touched) if (!seg.dead) void stores.ackedDb.put(seg.start, Buffer.from(seg.acked))
    for (const start of this.removes) {
      void stores.records.remove(start)
      void stores.ackedDb.remove(start)
    }
    for (const [seq, n] of this.attempts) {
      if (n > 0) {
        void stores.attemptsDb.put(seq, n)
        attemptsKnown.set(seq, n)
      } else if (attemptsKnown.delete(seq)) void stores.attemptsDb.remove(seq)
    }
  }
}
