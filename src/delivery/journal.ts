import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { debuglog } from 'node:util'
import { open, type Database, type RootDatabase } from 'lmdb'
import { OutriggerError, errorMessage } from '../errors.js'
import { type EncodedEntry, decodeEntry, encodeEntry } from './journal-codec.js'

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
  /** Write transactions started. */
  commits: number
  /** Entries left by an earlier run, found at open. */
  recovered: number
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
 * A worker plugin's durable queue: one lmdb environment per plugin, one entry per event keyed by
 * its sequence number, so a range read returns the events in append order.
 *
 * Appends are synchronous and cost no I/O: the entry is encoded (which is also the cloneability
 * check) and buffered. Every `commitMs` the buffered appends, acks and attempt counts go to lmdb
 * in one write transaction (group commit); lmdb writes it off the main thread. An entry acked
 * before its transaction starts is never written. Batches commit in the order they were started,
 * so "batch k committed" means every append up to its last sequence number is committed.
 *
 * One journal per folder: two writers on the same folder would hand out the same sequence numbers.
 */
export class Journal {
  private readonly root: RootDatabase
  private readonly entries: Database<Buffer, number>
  private readonly attemptsDb: Database<number, number>
  private readonly info: Database<number, string>
  private readonly commitMs: number
  private readonly sync: 'os' | 'disk'
  private readonly onError: ((err: OutriggerError) => void) | undefined

  private nextSeq: number
  /** Numbers below this one may be handed out: the store holds it as `next`, committed. */
  private reservedTo: number
  /** The reservation the last batch asked for (committed with it). */
  private reserving: number
  /** Appends not yet handed to lmdb; `pending[i]` is sequence `pendingBase + i` (undefined once acked). */
  private pending: Array<EncodedEntry | undefined> = []
  private pendingBase: number
  private pendingAcks: number[] = []
  private pendingAttempts = new Map<number, number>()
  /** Waiters on appends still in `pending`: settled when their batch is started. */
  private nextBatch: Deferred | undefined
  /** Batches handed to lmdb and not yet committed, oldest first. */
  private readonly inflight: Batch[] = []
  private committedThrough: number
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined
  private failure: OutriggerError | undefined
  private closing: Promise<void> | undefined

  /** Sequence numbers holding a stored attempt count (removed with the entry). */
  private readonly attemptsKnown = new Map<number, number>()
  /** The last sequence number left by an earlier run; `recover()` reads up to it. */
  private readonly recoveredThrough: number
  /** Recovered entries acked this run, until `recover()` cannot meet them any more. */
  private readonly ackedRecovered = new Set<number>()
  private readonly counts: JournalStats = { appended: 0, acked: 0, elided: 0, commits: 0, recovered: 0 }

  private constructor(readonly dir: string, opts: JournalOptions) {
    this.commitMs = opts.commitMs ?? 5
    this.sync = opts.sync ?? 'disk'
    this.onError = opts.onError
    if (!Number.isFinite(this.commitMs) || this.commitMs < 0 || this.commitMs > 2 ** 31 - 1) throw new RangeError(`journal commitMs must be between 0 and 2^31-1, got ${this.commitMs}`)
    mkdirSync(dir, { recursive: true })
    this.root = open({ path: dir, compression: false })
    this.entries = this.root.openDB({ name: 'entries', encoding: 'binary' })
    this.attemptsDb = this.root.openDB({ name: 'attempts' })
    this.info = this.root.openDB({ name: 'info' })
    let last = 0
    for (const key of this.entries.getKeys({ reverse: true, limit: 1 })) last = key
    this.recoveredThrough = last
    this.counts.recovered = last ? this.entries.getCount() : 0
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
   * Appends an event and returns its sequence number. Synchronous, no I/O: the entry is committed
   * with the next group commit (see `committed`). Throws `RIG_ERR_NOT_CLONEABLE` when the payload
   * (or meta) cannot be structured-cloned, appending nothing; `RIG_ERR_CLOSED` after `close()`;
   * `RIG_ERR_JOURNAL` after a failed commit.
   */
  append(event: string, payload: unknown, meta?: unknown): number {
    this.assertWritable()
    return this.appendEncoded(encodeEntry(event, payload, meta))
  }

  /**
   * Appends an entry already encoded with `Journal.encode`: an event going to several durable
   * plugins is encoded (and checked) once, then appended to each plugin's journal.
   */
  appendEncoded(entry: EncodedEntry): number {
    this.assertWritable()
    const seq = this.nextSeq++
    // Rare (once per RESERVE appends, when commits lag far behind): extend the reservation now.
    if (seq >= this.reservedTo) this.info.putSync('next', (this.reservedTo = this.reserving = seq + RESERVE))
    this.pending.push(entry)
    this.counts.appended++
    this.schedule()
    return seq
  }

  /** Encodes an entry for `appendEncoded`; throws `RIG_ERR_NOT_CLONEABLE` like `append`. */
  static encode(event: string, payload: unknown, meta?: unknown): EncodedEntry {
    return encodeEntry(event, payload, meta)
  }

  /**
   * `append`, then resolves with the sequence number once the entry is committed. Never throws:
   * every refusal is a rejection. (A caller that needs the number at once calls `append`, then
   * `committed(seq)`.)
   */
  async appendDurable(event: string, payload: unknown, meta?: unknown): Promise<number> {
    const seq = this.append(event, payload, meta)
    await this.committed(seq)
    return seq
  }

  /**
   * Resolves once `seq` (default: the last append) is committed, waiting for its group commit
   * without hurrying it. An entry acked before its commit counts as committed with that batch.
   * Rejects with `RIG_ERR_JOURNAL` when its commit failed.
   */
  committed(seq = this.nextSeq - 1): Promise<void> {
    if (this.failure) return Promise.reject(this.failure)
    const s = Math.min(seq, this.nextSeq - 1)
    if (s <= this.committedThrough) return RESOLVED
    if (s >= this.pendingBase) return (this.nextBatch ??= deferred()).promise
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
   * Removes a processed entry (batched with the next commit; an entry whose commit has not started
   * yet is simply never written). Unknown or repeated numbers are harmless. Ignored after close.
   */
  ack(seq: number): void {
    if (this.closing || this.failure) return
    this.counts.acked++
    this.pendingAttempts.delete(seq)
    const i = seq - this.pendingBase
    if (i >= 0 && i < this.pending.length) {
      if (this.pending[i] !== undefined) this.counts.elided++
      this.pending[i] = undefined
      return
    }
    if (seq <= this.recoveredThrough) this.ackedRecovered.add(seq)
    this.pendingAcks.push(seq)
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
   * The entries an earlier run left (appended, not acked), in append order, starting at `from`.
   * Lazy: read from the store as iterated, so a long backlog need not fit in memory at once.
   * Entries appended by this run are never included; entries acked this run are skipped.
   * An entry that cannot be decoded is removed, logged (debuglog `outrigger`) and skipped.
   */
  *recover(from = 0): Generator<JournalEntry> {
    if (this.recoveredThrough === 0) return
    for (const { key, value } of this.entries.getRange({ start: from, end: this.recoveredThrough + 1 })) {
      if (this.ackedRecovered.has(key)) continue
      let decoded
      try {
        decoded = decodeEntry(value)
      } catch (err) {
        debug('journal %s: entry %d cannot be decoded and is dropped: %s', this.dir, key, errorMessage(err))
        this.ack(key)
        continue
      }
      yield { seq: key, ...decoded, attempts: this.attemptsKnown.get(key) ?? this.pendingAttempts.get(key) ?? 0 }
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
    return this.pending.length > 0 || this.pendingAcks.length > 0 || this.pendingAttempts.size > 0
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

  /**
   * Hands everything buffered to lmdb as one transaction. The puts, removes and the next-number
   * record are all issued in this one synchronous turn: lmdb batches the writes of a turn into a
   * single transaction, so they commit (or fail) together, after every batch started before.
   */
  private readonly writeBatch = (): void => {
    this.clearTimer()
    if (!this.hasBuffered()) return
    const puts = this.pending
    const base = this.pendingBase
    const acks = this.pendingAcks
    const attempts = this.pendingAttempts
    const waiter = this.nextBatch
    this.pending = []
    this.pendingBase = this.nextSeq
    this.pendingAcks = []
    this.pendingAttempts = new Map()
    this.nextBatch = undefined
    this.counts.commits++

    let done: Promise<void>
    let reserve = 0
    try {
      for (let i = 0; i < puts.length; i++) {
        const entry = puts[i]
        if (entry !== undefined) void this.entries.put(base + i, entry)
      }
      for (const [seq, n] of attempts) {
        void this.attemptsDb.put(seq, n)
        this.attemptsKnown.set(seq, n)
      }
      for (const seq of acks) {
        void this.entries.remove(seq)
        if (this.attemptsKnown.delete(seq)) void this.attemptsDb.remove(seq)
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
    const through = base + puts.length - 1
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
