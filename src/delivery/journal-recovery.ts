import { debuglog } from 'node:util'
import type { Database } from 'lmdb'
import { errorMessage } from '../errors.js'
import { decodeBatch } from './journal-codec.js'
import type { Segment, SegmentTable } from './journal-segments.js'
import type { JournalEntry } from './journal-types.js'

const debug = debuglog('outrigger')

/** What reading back needs of the journal. */
export interface ReaderSource {
  readonly dir: string
  readonly records: Database<Buffer, number>
  readonly ackedDb: Database<Buffer, number>
  readonly segments: SegmentTable
  readonly counts: { recovered: number }
  /** The attempt count stored or buffered for an entry, 0 if none. */
  attemptsOf(seq: number): number
  /** Deletes a record and the acks noted beside it, with the next commit. */
  remove(start: number): void
  /** False once the journal is closing or a commit failed. */
  writable(): boolean
}

/**
 * Reading entries back from the store: what an earlier run left (`recover`, which also rebuilds
 * the segments of those records) and what this run kept only on disk (`read`).
 */
export class RecordReader {
  /** The last sequence number left by an earlier run; `recover()` reads up to it. */
  readonly recoveredThrough: number
  /** The record `read` decoded last (records never change once written). */
  private lastRead: { key: number; entries: ReturnType<typeof decodeBatch> } | undefined

  constructor(private readonly src: ReaderSource) {
    let last = 0
    for (const { key, value } of src.records.getRange({ reverse: true, limit: 1 })) last = key + decodeBatch(value).length - 1
    this.recoveredThrough = last
  }

  /** See `Journal.recover`. */
  *recover(from: number): Generator<JournalEntry> {
    const src = this.src
    if (this.recoveredThrough === 0) return
    let start = from
    for (const key of src.records.getKeys({ start: from, reverse: true, limit: 1 })) start = key
    for (const { key, value } of src.records.getRange({ start, end: this.recoveredThrough + 1 })) {
      let entries
      try {
        entries = decodeBatch(value)
      } catch (err) {
        debug('journal %s: record %d cannot be decoded and is dropped: %s', src.dir, key, errorMessage(err))
        if (src.writable()) src.remove(key)
        continue
      }
      const seg = src.segments.of(key) ?? this.adopt(key, entries)
      for (let i = 0; i < entries.length; i++) {
        const e = entries[i]
        const seq = key + i
        if (e === undefined || seq < from || seg.acked[i]) continue
        src.counts.recovered++
        yield { seq, ...e, attempts: src.attemptsOf(seq) }
      }
    }
  }

  /** See `Journal.read`. */
  *read(from: number, through: number): Generator<JournalEntry> {
    const src = this.src
    let start = from
    for (const key of src.records.getKeys({ start: from, reverse: true, limit: 1 })) start = key
    for (const { key, value } of src.records.getRange({ start, end: through + 1 })) {
      const seg = src.segments.of(key)
      if (!seg) continue
      // A read usually stops inside a record and the next one starts there: decode it once.
      const entries = this.lastRead?.key === key ? this.lastRead.entries : decodeBatch(value)
      this.lastRead = { key, entries }
      for (let i = Math.max(0, from - key); i < entries.length && key + i <= through; i++) {
        const e = entries[i]
        if (e === undefined || seg.acked[i]) continue
        yield { seq: key + i, ...e, attempts: src.attemptsOf(key + i) }
      }
    }
  }

  /** Registers a recovered record as a segment, with the acks noted beside it before the crash. */
  private adopt(start: number, entries: unknown[]): Segment {
    const acked = new Uint8Array(entries.length)
    const noted = this.src.ackedDb.get(start)
    if (noted) acked.set(noted.subarray(0, entries.length))
    let live = 0
    for (let i = 0; i < entries.length; i++) {
      if (entries[i] === undefined) acked[i] = 1
      if (!acked[i]) live++
    }
    const seg: Segment = { start, length: entries.length, live, acked, dead: false }
    this.src.segments.insert(seg)
    if (live === 0) {
      this.src.segments.drop(seg)
      this.src.remove(start)
    }
    return seg
  }
}
