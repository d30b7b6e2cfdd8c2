/**
 * The last entries of a log, kept in memory for catch-up reads, and what duplicate checks need of
 * a longer stretch. Entries may take 64 KiB each, so the entries themselves are bounded by the
 * bytes of their args as well as by count; older ones are read from the store. Duplicate checks
 * keep a mark per entry (seq, type, time and a digest of its args) for `KEEP` entries whatever
 * their size, so a large entry leaving memory does not let a reaction be appended twice.
 */
import { createHash } from 'node:crypto'
import { deepFreeze } from './replica.js'
import type { LogEntry } from './types.js'

/** Entries remembered for duplicate checks, and at most kept whole in memory. */
export const KEEP = 4096

/** At most this much of entry args (as JSON, in characters) is kept in memory. */
export const TAIL_BYTES = 8 * 1024 * 1024

/** What a duplicate check needs of an entry: its args are compared by digest. */
interface Mark {
  seq: number
  type: string
  at: number
  digest: string
}

const digestOf = (json: string): string => createHash('sha1').update(json).digest('base64')
const jsonOf = (args: unknown): string => JSON.stringify(args) ?? 'null'

export class LogTail {
  /** Entries in seq order from `start` on (the slots before it are released, and compacted away). */
  private entries: LogEntry[] = []
  private sizes: number[] = []
  private start = 0
  private held = 0
  private marks: Mark[] = []

  constructor(private readonly maxBytes = TAIL_BYTES, private readonly keep = KEEP) {}

  /** Bytes of args held now, as measured when each entry came. */
  get bytes(): number {
    return this.held
  }

  /** The seq of the oldest entry held whole, if any. */
  get first(): number | undefined {
    return this.entries[this.start]?.seq
  }

  /** The args are serialised once here: their length is the entry's size, their digest its mark. */
  push(e: LogEntry): void {
    const json = jsonOf(e.args)
    this.marks.push({ seq: e.seq, type: e.type, at: e.at, digest: digestOf(json) })
    if (this.marks.length > this.keep * 2) this.marks.splice(0, this.marks.length - this.keep)
    this.entries.push(e)
    this.sizes.push(json.length)
    this.held += json.length
    while (this.start < this.entries.length && (this.held > this.maxBytes || this.entries.length - this.start > this.keep)) {
      this.held -= this.sizes[this.start]
      this.entries[this.start++] = undefined as unknown as LogEntry
    }
    // Released slots go in one splice once they are half the array: amortised O(1) per entry.
    if (this.start > 64 && this.start * 2 >= this.entries.length) {
      this.entries.splice(0, this.start)
      this.sizes.splice(0, this.start)
      this.start = 0
    }
  }

  /** The entries `from`–`upTo` if memory holds them all, else undefined (read the store). */
  slice(from: number, upTo: number): LogEntry[] | undefined {
    const first = this.first
    if (first === undefined || from < first) return undefined
    return this.entries.slice(this.start + from - first, this.start + upTo - first + 1)
  }

  /**
   * The newest entry after `cause` of `type` with the same args, if the marks reach back that far.
   * One that left memory is given back with the args asked about: they are the same.
   */
  duplicate(type: string, args: unknown, cause: number): LogEntry | undefined {
    let digest: string | undefined
    for (let i = this.marks.length - 1; i >= 0 && this.marks[i].seq > cause; i--) {
      const m = this.marks[i]
      if (m.type !== type) continue
      digest ??= digestOf(jsonOf(args))
      if (m.digest !== digest) continue
      const first = this.first
      return first !== undefined && m.seq >= first ? this.entries[this.start + m.seq - first] : deepFreeze({ seq: m.seq, type, args, at: m.at })
    }
    return undefined
  }
}
