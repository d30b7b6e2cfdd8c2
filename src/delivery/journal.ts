import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { debuglog } from 'node:util'
import { open, type Database, type RootDatabase } from 'lmdb'
import { OutriggerError, errorMessage } from '../errors.js'
import { type EntryTuple, decodeBatch, encodeBatch, tuple } from './journal-codec.js'

const debug = debuglog('outrigger')

export interface JournalOptions {
  /**
   * The group-commit window in milliseconds (host config `journal.commitMs`, default 5): an append
   * waits at most this long before the transaction that holds it starts. 0 commits at the end of
   * the current event-loop turn.
   */
  commitMs?: number
  /**
   * What a commit waits for before `committed`, `flush` and `appendDurable` resolve.
   * `'os'`: the transaction is committed and its pages are in the operating system's hands, which
   * survives the process being killed (SIGKILL, OOM killer), not a kernel crash or power cut.
   * `'disk'` (default): the transaction is also synced to the storage device.
   */
  sync?: 'os' | 'disk'
  /**
   * Called when an appended entry turns out, at its commit, not to be cloneable: it is left out
   * (alone; the rest of its batch is kept) with a `RIG_ERR_NOT_CLONEABLE` error naming the event.
   */
  onRefused?: (seq: number, err: OutriggerError) => void
  /** Called once when a commit fails; from then on appends throw `RIG_ERR_JOURNAL`. */
  onError?: (err: OutriggerError) => void
}

/** One event read back from the journal: what was appended, in append order. */
export interface JournalEntry {
  /** The journal's sequence number: increasing in append order, never reused, across runs too. */
  seq: number
  event: string
  payload: unknown
  /** Whatever the caller passed to `append` as `meta` (undefined when it passed none). */
  meta: unknown
  /** The last count given to `recordAttempt` for this entry, 0 if none. */
  attempts: number
}

export interface JournalStats {
  appended: number
  acked: number
  /** Acked before their commit, so never written at all. */
  elided: number
  /** Refused at their commit because they cannot be cloned. */
  refused: number
  /** Write transactions started. */
  commits: number
  /** Entries an earlier run left, returned by `recover()` so far. */
  recovered: number
}

/** One group commit's record: entries `start … start + length - 1`, removed when all are acked. */
interface Segment {
  start: number
  length: number
  /** Entries neither acked nor holes. */
  live: number
  /** 1 where acked (or a hole). */
  acked: Uint8Array
  dead: boolean
}

interface Batch {
  through: number
  done: Promise<void>
}

interface Deferred {
  promise: Promise<void>
  resolve(p: Promise<void>): void
}

const RESOLVED = Promise.resolve()
/**
 * Sequence numbers are reserved ahead in blocks: the store records a number no run has reached,
 * so a run that dies before committing its last appends still never sees those numbers reused by
 * the next one (an event may have reached a worker before its commit).
 */
const RESERVE = 1 << 20
const openDirs = new Set<string>()

/**
 * A worker plugin's durable queue: one lmdb environment per plugin.
 *
 * Appends are synchronous and cost no I/O or encoding: the entry is buffered. Every `commitMs` the
 * buffered appends become one record, keyed by its first sequence number and encoded in one v8
 * call (per-entry encoding cost several times more, see the codec), written in one transaction
 * with the acks and attempt counts gathered since (group commit); lmdb writes it off the main
 * thread. A record is deleted once all its entries are acked; until then the acked ones are noted
 * beside it, so a crash redelivers only entries whose ack was not committed. An entry acked before its commit starts is
 * never written. Batches commit in the order they were started, so "batch k committed" means every
 * append up to its last sequence number is committed.
 *
 * One journal per folder: two writers on the same folder would hand out the same sequence numbers.
 */
export class Journal {
  private readonly root: RootDatabase
  private readonly records: Database<Buffer, number>
  private readonly ackedDb: Database<Buffer, number>
  private readonly attemptsDb: Database<number, number>
  private readonly info: Database<number, string>
  private readonly commitMs: number
  private readonly sync: 'os' | 'disk'
  private readonly onRefused: JournalOptions['onRefused']
  private readonly onError: JournalOptions['onError']

  private nextSeq: number
  /** Numbers below this one may be handed out: the store holds it as `next`, committed. */
  private reservedTo: number
  /** The reservation the last batch asked for (committed with it). */
  private reserving: number
  /** Appends not yet handed to lmdb; `pending[i]` is sequence `pendingBase + i` (undefined once acked). */
  private pending: Array<EntryTuple | undefined> = []
  private pendingBase: number
  /** Segments whose acks changed since the last batch. */
  private touched = new Set<Segment>()
  private pendingRemoves: number[] = []
  private pendingAttempts = new Map<number, number>()
  /** Waiters on appends still in `pending`: settled when their batch is started. */
  private nextBatch: Deferred | undefined
  /** Sequence numbers an `appendDurable`/`committed` waits on while pending, and their refusals. */
  private readonly watched = new Map<number, OutriggerError | null>()
  /** Batches handed to lmdb and not yet committed, oldest first. */
  private readonly inflight: Batch[] = []
  private committedThrough: number
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined
  private failure: OutriggerError | undefined
  private closing: Promise<void> | undefined

  /** Live segments (and a few dead ones, compacted now and then), ordered by `start`. */
  private segments: Segment[] = []
  private deadSegments = 0
  /** Sequence numbers holding a stored attempt count (removed with the entry). */
  private readonly attemptsKnown = new Map<number, number>()
  /** The last sequence number left by an earlier run; `recover()` reads up to it. */
  private readonly recoveredThrough: number
  /** The record `read` decoded last (records never change once written). */
  private lastRead: { key: number; entries: ReturnType<typeof decodeBatch> } | undefined
  private readonly counts: JournalStats = { appended: 0, acked: 0, elided: 0, refused: 0, commits: 0, recovered: 0 }

  private constructor(readonly dir: string, opts: JournalOptions) {
    this.commitMs = opts.commitMs ?? 5
    this.sync = opts.sync ?? 'disk'
    this.onRefused = opts.onRefused
    this.onError = opts.onError
    if (!Number.isFinite(this.commitMs) || this.commitMs < 0 || this.commitMs > 2 ** 31 - 1) throw new RangeError(`journal commitMs must be between 0 and 2^31-1, got ${this.commitMs}`)
    mkdirSync(dir, { recursive: true })
    this.root = open({ path: dir, compression: false })
    this.records = this.root.openDB({ name: 'records', encoding: 'binary' })
    this.ackedDb = this.root.openDB({ name: 'acked', encoding: 'binary' })
    this.attemptsDb = this.root.openDB({ name: 'attempts' })
    this.info = this.root.openDB({ name: 'info' })
    let last = 0
    for (const { key, value } of this.records.getRange({ reverse: true, limit: 1 })) last = key + decodeBatch(value).length - 1
    this.recoveredThrough = last
    for (const { key, value } of this.attemptsDb.getRange()) this.attemptsKnown.set(key, value)
    // The next number survives an empty journal too, so a number is never handed out twice.
    this.nextSeq = Math.max(this.info.get('next') ?? 1, last + 1)
    this.reservedTo = this.reserving = this.nextSeq + RESERVE
    this.info.putSync('next', this.reservedTo)
    this.pendingBase = this.nextSeq
    this.committedThrough = this.nextSeq - 1
  }

  /**
   * Opens (creating it if needed) the journal in `dir`, typically `<stateDir>/journal/<plugin>`.
   * Throws `RIG_ERR_JOURNAL` when the folder cannot hold a journal or is already open here.
   */
  static open(dir: string, opts: JournalOptions = {}): Journal {
    const abs = path.resolve(dir)
    if (openDirs.has(abs)) throw new OutriggerError('RIG_ERR_JOURNAL', `the journal in ${abs} is already open in this process; close it first`, { details: { dir: abs } })
    let j: Journal
    try {
      j = new Journal(abs, opts)
    } catch (cause) {
      if (cause instanceof RangeError) throw cause
      throw new OutriggerError('RIG_ERR_JOURNAL', `cannot open the journal in ${abs}: ${errorMessage(cause)}; check that the state folder is writable and holds no other files there`, { cause, details: { dir: abs } })
    }
    openDirs.add(abs)
    return j
  }

  /**
   * Appends an event and returns its sequence number. Synchronous, no I/O, no encoding: the entry
   * is encoded and committed with the next group commit (see `committed`), so the payload must not
   * be changed after the call. A payload that cannot be cloned is refused then, alone (`onRefused`,
   * and a rejection for whoever awaits its commit). Throws `RIG_ERR_CLOSED` after `close()`,
   * `RIG_ERR_JOURNAL` after a failed commit.
   */
  append(event: string, payload: unknown, meta?: unknown): number {
    this.assertWritable()
    const seq = this.nextSeq++
    // Rare (once per RESERVE appends, when commits lag far behind): extend the reservation now.
    if (seq >= this.reservedTo) this.info.putSync('next', (this.reservedTo = this.reserving = seq + RESERVE))
    this.pending.push(tuple(event, payload, meta))
    this.counts.appended++
    this.schedule()
    return seq
  }

  /**
   * `append`, then resolves with the sequence number once the entry is committed. Never throws:
   * every refusal is a rejection (`RIG_ERR_NOT_CLONEABLE` for a payload that cannot be cloned).
   */
  async appendDurable(event: string, payload: unknown, meta?: unknown): Promise<number> {
    const seq = this.append(event, payload, meta)
    await this.committed(seq)
    return seq
  }

  /**
   * Resolves once `seq` (default: the last append) is committed, waiting for its group commit
   * without hurrying it. An entry acked before its commit counts as committed with that batch.
   * Rejects with `RIG_ERR_JOURNAL` when its commit failed, and with `RIG_ERR_NOT_CLONEABLE` when
   * the entry was refused (known only if this is called before its commit starts, as
   * `appendDurable` does; `onRefused` always hears of it).
   */
  committed(seq = this.nextSeq - 1): Promise<void> {
    if (this.failure) return Promise.reject(this.failure)
    const s = Math.min(seq, this.nextSeq - 1)
    if (s <= this.committedThrough) return RESOLVED
    if (s >= this.pendingBase) {
      this.watched.set(s, null)
      return (this.nextBatch ??= deferred()).promise.then(() => {
        const refused = this.watched.get(s)
        this.watched.delete(s)
        if (refused) throw refused
      })
    }
    for (const b of this.inflight) if (b.through >= s) return b.done
    return RESOLVED
  }

  /** Starts a commit now for everything buffered; resolves once every append so far is committed. */
  flush(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure)
    if (this.hasBuffered()) this.writeBatch()
    return this.inflight.length ? this.inflight[this.inflight.length - 1].done : RESOLVED
  }

  /**
   * Marks a processed entry done (batched with the next commit; an entry whose commit has not
   * started yet is simply never written). Unknown or repeated numbers are harmless. Ignored after
   * close: ack before closing.
   */
  ack(seq: number): void {
    if (this.closing || this.failure) return
    this.pendingAttempts.delete(seq)
    const i = seq - this.pendingBase
    if (i >= 0 && i < this.pending.length) {
      if (this.pending[i] !== undefined) {
        this.counts.acked++
        this.counts.elided++
      }
      this.pending[i] = undefined
      return
    }
    const seg = this.segmentOf(seq)
    if (!seg || seg.acked[seq - seg.start]) return
    this.counts.acked++
    seg.acked[seq - seg.start] = 1
    if (this.attemptsKnown.has(seq)) this.pendingAttempts.set(seq, 0)
    if (--seg.live === 0) {
      this.pendingRemoves.push(seg.start)
      this.touched.delete(seg)
      this.drop(seg)
    } else this.touched.add(seg)
    this.schedule()
  }

  /**
   * Stores how many times an entry has been tried (batched like acks), so `maxAttempts` also
   * counts the attempts of runs that died. `recover()` reports it.
   */
  recordAttempt(seq: number, attempts: number): void {
    if (this.closing || this.failure) return
    this.pendingAttempts.set(seq, attempts)
    this.schedule()
  }

  /**
   * The entries an earlier run left (appended, not acked), in append order, from `from` on.
   * Lazy: read from the store as iterated, one group commit's record at a time, so a long backlog
   * need not fit in memory at once. Entries appended by this run are never included; entries acked
   * (this run or before the crash) are skipped. A record that cannot be decoded is dropped and
   * logged (debuglog `outrigger`).
   */
  *recover(from = 0): Generator<JournalEntry> {
    if (this.recoveredThrough === 0) return
    let start = from
    for (const key of this.records.getKeys({ start: from, reverse: true, limit: 1 })) start = key
    for (const { key, value } of this.records.getRange({ start, end: this.recoveredThrough + 1 })) {
      let entries
      try {
        entries = decodeBatch(value)
      } catch (err) {
        debug('journal %s: record %d cannot be decoded and is dropped: %s', this.dir, key, errorMessage(err))
        if (!this.closing && !this.failure) {
          this.pendingRemoves.push(key)
          this.schedule()
        }
        continue
      }
      const seg = this.segmentOf(key) ?? this.adopt(key, entries)
      for (let i = 0; i < entries.length; i++) {
        const e = entries[i]
        const seq = key + i
        if (e === undefined || seq < from || seg.acked[i]) continue
        this.counts.recovered++
        yield { seq, ...e, attempts: this.pendingAttempts.get(seq) || this.attemptsKnown.get(seq) || 0 }
      }
    }
  }

  /**
   * The committed, unacked entries of this run from `from` through `through`, in order: what a
   * durable queue kept only on disk when its in-memory window was full. Call it once
   * `committed(through)` resolved; entries not committed yet are not returned.
   */
  *read(from: number, through: number): Generator<JournalEntry> {
    let start = from
    for (const key of this.records.getKeys({ start: from, reverse: true, limit: 1 })) start = key
    for (const { key, value } of this.records.getRange({ start, end: through + 1 })) {
      const seg = this.segmentOf(key)
      if (!seg) continue
      // A read usually stops inside a record and the next one starts there: decode it once.
      const entries = this.lastRead?.key === key ? this.lastRead.entries : decodeBatch(value)
      this.lastRead = { key, entries }
      for (let i = Math.max(0, from - key); i < entries.length && key + i <= through; i++) {
        const e = entries[i]
        if (e === undefined || seg.acked[i]) continue
        yield { seq: key + i, ...e, attempts: this.pendingAttempts.get(key + i) || this.attemptsKnown.get(key + i) || 0 }
      }
    }
  }

  /** The last sequence number left by an earlier run (0 when it left none). */
  get recoveredLastSeq(): number {
    return this.recoveredThrough
  }

  /** The last sequence number handed out (0 before the first append ever). */
  get lastSeq(): number {
    return this.nextSeq - 1
  }

  get stats(): Readonly<JournalStats> {
    return { ...this.counts }
  }

  /** Commits what is buffered, then closes the store. Idempotent. Rejects if that last commit fails. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        if (!this.failure) {
          await this.flush()
          // Everything handed out is committed: the next run may go on from here, without a gap.
          this.info.putSync('next', this.nextSeq)
        }
      } finally {
        this.clearTimer()
        openDirs.delete(this.dir)
        await this.root.close()
      }
    })()
    return this.closing
  }

  private assertWritable(): void {
    if (this.closing) throw new OutriggerError('RIG_ERR_CLOSED', `the journal in ${this.dir} is closed`)
    if (this.failure) throw this.failure
  }

  private hasBuffered(): boolean {
    return this.pending.length > 0 || this.touched.size > 0 || this.pendingRemoves.length > 0 || this.pendingAttempts.size > 0
  }

  private schedule(): void {
    if (this.timer) return
    this.timer = this.commitMs > 0 ? setTimeout(this.writeBatch, this.commitMs) : setImmediate(this.writeBatch)
  }

  private clearTimer(): void {
    if (!this.timer) return
    if (this.commitMs > 0) clearTimeout(this.timer as NodeJS.Timeout)
    else clearImmediate(this.timer as NodeJS.Immediate)
    this.timer = undefined
  }

  /** The live segment holding `seq`: a binary search over the segments, ordered by start. */
  private segmentOf(seq: number): Segment | undefined {
    const segs = this.segments
    let lo = 0
    let hi = segs.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      if (segs[mid].start <= seq) lo = mid + 1
      else hi = mid - 1
    }
    const seg = segs[hi]
    return seg && !seg.dead && seq < seg.start + seg.length ? seg : undefined
  }

  /** Registers a recovered record as a segment, with the acks noted beside it before the crash. */
  private adopt(start: number, entries: unknown[]): Segment {
    const acked = new Uint8Array(entries.length)
    const noted = this.ackedDb.get(start)
    if (noted) acked.set(noted.subarray(0, entries.length))
    let live = 0
    for (let i = 0; i < entries.length; i++) {
      if (entries[i] === undefined) acked[i] = 1
      if (!acked[i]) live++
    }
    const seg: Segment = { start, length: entries.length, live, acked, dead: false }
    // Recovered records start below every record of this run: insert in order.
    let at = this.segments.length
    while (at > 0 && this.segments[at - 1].start > start) at--
    this.segments.splice(at, 0, seg)
    if (live === 0) {
      this.pendingRemoves.push(start)
      this.drop(seg)
      this.schedule()
    }
    return seg
  }

  private drop(seg: Segment): void {
    seg.dead = true
    if (++this.deadSegments > 64 && this.deadSegments * 2 > this.segments.length) {
      this.segments = this.segments.filter((s) => !s.dead)
      this.deadSegments = 0
    }
  }

  /**
   * Hands everything buffered to lmdb as one transaction. The writes are all issued in this one
   * synchronous turn: lmdb batches the writes of a turn into a single transaction, so they commit
   * (or fail) together, after every batch started before.
   */
  private readonly writeBatch = (): void => {
    this.clearTimer()
    if (!this.hasBuffered()) return
    const entries = this.pending
    const base = this.pendingBase
    const touched = this.touched
    const removes = this.pendingRemoves
    const attempts = this.pendingAttempts
    const waiter = this.nextBatch
    this.pending = []
    this.pendingBase = this.nextSeq
    this.touched = new Set()
    this.pendingRemoves = []
    this.pendingAttempts = new Map()
    this.nextBatch = undefined
    this.counts.commits++

    let done: Promise<void>
    let reserve = 0
    try {
      let live = 0
      for (const e of entries) if (e !== undefined) live++
      if (live > 0) {
        const { bytes, refused } = encodeBatch(entries)
        for (const [i, err] of refused) this.refuse(base + i, err)
        live -= refused.length
        if (live > 0) {
          void this.records.put(base, bytes)
          const acked = new Uint8Array(entries.length)
          for (let i = 0; i < entries.length; i++) if (entries[i] === undefined) acked[i] = 1
          this.segments.push({ start: base, length: entries.length, live, acked, dead: false })
        }
      }
      for (const seg of touched) if (!seg.dead) void this.ackedDb.put(seg.start, Buffer.from(seg.acked))
      for (const start of removes) {
        void this.records.remove(start)
        void this.ackedDb.remove(start)
      }
      for (const [seq, n] of attempts) {
        if (n > 0) {
          void this.attemptsDb.put(seq, n)
          this.attemptsKnown.set(seq, n)
        } else if (this.attemptsKnown.delete(seq)) void this.attemptsDb.remove(seq)
      }
      // Keep half a block of reserved numbers ahead of the appends, committed with them.
      reserve = this.reserving - this.nextSeq < RESERVE / 2 ? (this.reserving = this.nextSeq + RESERVE) : 0
      if (reserve) void this.info.put('next', reserve)
      // `committed` and `flushed` are thenables bound to the transaction being built in this turn:
      // call their `then` now, not from a later microtask.
      const committed = new Promise<void>((resolve, reject) => this.root.committed.then(() => resolve(), reject))
      done = this.sync === 'os' ? committed : Promise.all([committed, new Promise<void>((resolve, reject) => this.root.flushed.then(() => resolve(), reject))]).then(() => undefined)
    } catch (err) {
      done = Promise.reject(err)
    }
    const through = base + entries.length - 1
    // lmdb commits transactions one after the other; chaining on the previous batch makes "this
    // batch is done" mean "every earlier one is too" without relying on the order its promises settle.
    const previous = this.inflight.length ? this.inflight[this.inflight.length - 1].done : RESOLVED
    const batch: Batch = {
      through,
      done: Promise.all([previous, done]).then(
        () => {
          this.inflight.splice(this.inflight.indexOf(batch), 1)
          if (through > this.committedThrough) this.committedThrough = through
          if (reserve > this.reservedTo) this.reservedTo = reserve
        },
        (cause) => {
          this.fail(cause)
          throw this.failure
        },
      ),
    }
    // Nobody may be waiting on this batch; its failure is reported through `onError` and every later call.
    batch.done.catch(() => undefined)
    this.inflight.push(batch)
    waiter?.resolve(batch.done)
  }

  private refuse(seq: number, err: OutriggerError): void {
    this.counts.refused++
    if (this.watched.has(seq)) this.watched.set(seq, err)
    debug('journal %s: entry %d refused: %s', this.dir, seq, err.message)
    this.onRefused?.(seq, err)
  }

  private fail(cause: unknown): void {
    if (this.failure) return
    this.failure = new OutriggerError('RIG_ERR_JOURNAL', `a commit to the journal in ${this.dir} failed: ${errorMessage(cause)}; events appended since the last successful commit may not be durable`, { cause, details: { dir: this.dir } })
    this.onError?.(this.failure)
  }
}

function deferred(): Deferred {
  let resolve!: (p: Promise<void>) => void
  const promise = new Promise<void>((r) => (resolve = r))
  return { promise, resolve }
}
