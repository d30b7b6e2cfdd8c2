import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { debuglog } from 'node:util'
import { open, type RootDatabase } from 'lmdb'
import { OutriggerError, errorMessage } from '../errors.js'
import { type BatchStores, PendingBatch } from './journal-batch.js'
import { tuple } from './journal-codec.js'
import { GroupCommit, RESOLVED } from './journal-commit.js'
import { RecordReader } from './journal-recovery.js'
import { SegmentTable } from './journal-segments.js'
import { SequenceBlock } from './journal-sequence.js'
import type { JournalEntry, JournalOptions, JournalStats } from './journal-types.js'

export type { JournalEntry, JournalOptions, JournalStats } from './journal-types.js'

const debug = debuglog('outrigger')

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
 * append up to its last sequence number is committed. `replace` puts one entry in the place of
 * others in one transaction (a sink's batch in the place of the events gathered into it).
 *
 * One journal per folder: two writers on the same folder would hand out the same sequence numbers.
 */
export class Journal {
  private readonly root: RootDatabase
  private readonly stores: BatchStores
  private readonly onRefused: JournalOptions['onRefused']
  private readonly sequence: SequenceBlock
  private readonly commits: GroupCommit
  private readonly reader: RecordReader

  /** What the next group commit writes. */
  private next: PendingBatch
  /** Sequence numbers an `appendDurable`/`committed` waits on while pending, and their refusals. */
  private readonly watched = new Map<number, OutriggerError | null>()
  private closing: Promise<void> | undefined

  private readonly segments = new SegmentTable()
  /** Sequence numbers holding a stored attempt count (removed with the entry). */
  private readonly attemptsKnown = new Map<number, number>()
  private readonly counts: JournalStats = { appended: 0, acked: 0, elided: 0, refused: 0, commits: 0, recovered: 0 }

  private constructor(readonly dir: string, opts: JournalOptions) {
    const commitMs = opts.commitMs ?? 5
    this.onRefused = opts.onRefused
    if (!Number.isFinite(commitMs) || commitMs < 0 || commitMs > 2 ** 31 - 1) throw new RangeError(`journal commitMs must be between 0 and 2^31-1, got ${commitMs}`)
    mkdirSync(dir, { recursive: true })
    this.root = open({ path: dir, compression: false })
    const records = this.root.openDB<Buffer, number>({ name: 'records', encoding: 'binary' })
    const ackedDb = this.root.openDB<Buffer, number>({ name: 'acked', encoding: 'binary' })
    const attemptsDb = this.root.openDB<number, number>({ name: 'attempts' })
    const info = this.root.openDB<number, string>({ name: 'info' })
    this.stores = { records, ackedDb, attemptsDb }
    this.reader = new RecordReader({
      dir,
      records,
      ackedDb,
      segments: this.segments,
      counts: this.counts,
      attemptsOf: (seq) => this.next.attempts.get(seq) || this.attemptsKnown.get(seq) || 0,
      remove: (start) => {
        this.next.removes.push(start)
        this.commits.schedule()
      },
      writable: () => !this.closing && !this.commits.failure,
    })
    for (const { key, value } of attemptsDb.getRange()) this.attemptsKnown.set(key, value)
    this.sequence = new SequenceBlock(info, this.reader.recoveredThrough)
    this.next = new PendingBatch(this.sequence.next)
    this.commits = new GroupCommit(this.root, { dir, commitMs, sync: opts.sync ?? 'disk', onError: opts.onError, write: this.writeBatch }, this.sequence.next - 1)
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
    const seq = this.sequence.take()
    this.next.entries.push(tuple(event, payload, meta))
    this.counts.appended++
    this.commits.schedule()
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
   * Appends an entry that takes the place of the entries `seqs` (a sink's batch, in place of the
   * events gathered into it) and returns its sequence number. The append and the acks of `seqs`
   * join the same group commit, which is one lmdb transaction: it writes the new entry and deletes
   * the old ones (those not committed yet are simply never written). So whenever the process dies,
   * the store holds either the old entries or the new one: never both, never neither. An old entry
   * counts as committed with the new one (`committed` on it resolves then).
   *
   * The new entry must be cloneable: refused at its commit, it would be left out while the acks
   * still go through. Call `refuseUncloneable(seqs)` first and leave the refused ones out of it.
   * Throws like `append`.
   */
  replace(seqs: readonly number[], event: string, payload: unknown, meta?: unknown): number {
    const seq = this.append(event, payload, meta)
    for (const s of seqs) this.ack(s)
    return seq
  }

  /**
   * Refuses now, as their commit would, those of `seqs` not committed yet whose payload cannot be
   * cloned (`onRefused`, and a rejection for whoever awaits them), and returns their numbers. The
   * others of `seqs` were committed, so they passed already. Costs one encode of the entries of
   * `seqs` still buffered (none when they were all committed). See `replace`.
   */
  refuseUncloneable(seqs: readonly number[]): number[] {
    return this.next.refuseUncloneable(seqs, (seq, err, meta) => this.refuse(seq, err, meta))
  }

  /**
   * Resolves once `seq` (default: the last append) is committed, waiting for its group commit
   * without hurrying it. An entry acked before its commit counts as committed with that batch.
   * Rejects with `RIG_ERR_JOURNAL` when its commit failed, and with `RIG_ERR_NOT_CLONEABLE` when
   * the entry was refused (known only if this is called before its commit starts, as
   * `appendDurable` does; `onRefused` always hears of it).
   */
  committed(seq = this.sequence.next - 1): Promise<void> {
    if (this.commits.failure) return Promise.reject(this.commits.failure)
    const s = Math.min(seq, this.sequence.next - 1)
    if (s <= this.commits.committedThrough) return RESOLVED
    if (s >= this.next.base) {
      this.watched.set(s, null)
      return this.commits.nextStarted().then(() => {
        const refused = this.watched.get(s)
        this.watched.delete(s)
        if (refused) throw refused
      })
    }
    return this.commits.handedOut(s)
  }

  /** Starts a commit now for everything buffered; resolves once every append so far is committed. */
  flush(): Promise<void> {
    if (this.commits.failure) return Promise.reject(this.commits.failure)
    if (!this.next.isEmpty()) this.writeBatch()
    return this.commits.last()
  }

  /**
   * Marks a processed entry done (batched with the next commit; an entry whose commit has not
   * started yet is simply never written). Unknown or repeated numbers are harmless. Ignored after
   * close: ack before closing.
   */
  ack(seq: number): void {
    if (this.closing || this.commits.failure) return
    const next = this.next
    next.attempts.delete(seq)
    const buffered = next.elide(seq)
    if (buffered !== undefined) {
      if (buffered) {
        this.counts.acked++
        this.counts.elided++
      }
      return
    }
    if (!next.ackStored(seq, this.segments)) return
    this.counts.acked++
    if (this.attemptsKnown.has(seq)) next.attempts.set(seq, 0)
    this.commits.schedule()
  }

  /**
   * Stores how many times an entry has been tried (batched like acks), so `maxAttempts` also
   * counts the attempts of runs that died. `recover()` reports it.
   */
  recordAttempt(seq: number, attempts: number): void {
    if (this.closing || this.commits.failure) return
    this.next.attempts.set(seq, attempts)
    this.commits.schedule()
  }

  /**
   * The entries an earlier run left (appended, not acked), in append order, from `from` on.
   * Lazy: read from the store as iterated, one group commit's record at a time, so a long backlog
   * need not fit in memory at once. Entries appended by this run are never included; entries acked
   * (this run or before the crash) are skipped. A record that cannot be decoded is dropped and
   * logged (debuglog `outrigger`).
   */
  recover(from = 0): Generator<JournalEntry> {
    return this.reader.recover(from)
  }

  /**
   * The committed, unacked entries of this run from `from` through `through`, in order: what a
   * durable queue kept only on disk when its in-memory window was full. Call it once
   * `committed(through)` resolved; entries not committed yet are not returned.
   */
  read(from: number, through: number): Generator<JournalEntry> {
    return this.reader.read(from, through)
  }

  /** The last sequence number left by an earlier run (0 when it left none). */
  get recoveredLastSeq(): number {
    return this.reader.recoveredThrough
  }

  /** The last sequence number handed out (0 before the first append ever). */
  get lastSeq(): number {
    return this.sequence.next - 1
  }

  get stats(): Readonly<JournalStats> {
    return { ...this.counts }
  }

  /** Commits what is buffered, then closes the store. Idempotent. Rejects if that last commit fails. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        if (!this.commits.failure) {
          await this.flush()
          this.sequence.release()
        }
      } finally {
        this.commits.clearTimer()
        openDirs.delete(this.dir)
        await this.root.close()
      }
    })()
    return this.closing
  }

  private assertWritable(): void {
    if (this.closing) throw new OutriggerError('RIG_ERR_CLOSED', `the journal in ${this.dir} is closed`)
    if (this.commits.failure) throw this.commits.failure
  }

  /**
   * Hands everything buffered to lmdb as one transaction. The writes are all issued in this one
   * synchronous turn: lmdb batches the writes of a turn into a single transaction, so they commit
   * (or fail) together, after every batch started before.
   */
  private readonly writeBatch = (): void => {
    this.commits.clearTimer()
    if (this.next.isEmpty()) return
    const batch = this.next
    this.next = new PendingBatch(this.sequence.next)
    this.counts.commits++
    let reserve = 0
    const issue = (): void => {
      batch.write(this.stores, this.segments, this.attemptsKnown, (seq, err, meta) => this.refuse(seq, err, meta))
      reserve = this.sequence.extend()
    }
    this.commits.start(batch.through, issue, () => this.sequence.committed(reserve))
  }

  private refuse(seq: number, err: OutriggerError, meta: unknown): void {
    this.counts.refused++
    if (this.watched.has(seq)) this.watched.set(seq, err)
    debug('journal %s: entry %d refused: %s', this.dir, seq, err.message)
    this.onRefused?.(seq, err, meta)
  }
}
