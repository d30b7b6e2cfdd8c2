/**
 * The coordination log, as its single writer (the supervisor) keeps it: hands out seqs, applies
 * each entry to the supervisor's replica before it is accepted, persists it, and tells listeners
 * once it is durable, in seq order. A snapshot every `snapshotEvery` entries bounds what a
 * restart replays.
 */
import { OutriggerError } from '../errors.js'
import { isBuiltIn } from './builtin.js'
import { ownerOf } from './entry.js'
import type { LogSnapshot, LogStore } from './log-store.js'
import { applyEntry, deepFreeze, EMPTY_REPLICA } from './replica.js'
import type { CoordinationMap, LogEntry, Replica } from './types.js'

/** Entries kept in memory for catch-up and duplicate checks; older ones are read from the store. */
const TAIL = 4096

export interface LogOptions {
  store: LogStore
  snapshotEvery: number
  /** The handlers the supervisor applies entries with: core plugins' (it never runs worker code). */
  handlersOf(plugin: string): CoordinationMap | undefined
}

/** Told of each entry once durable: the replica before and after it, and the owner's diff. */
export type Committed = (entry: LogEntry, old: Replica, next: Replica, diff: unknown) => void

export class CoordinationLog {
  private current: Replica = EMPTY_REPLICA
  private last = 0
  private durable = 0
  private readonly tail: LogEntry[] = []
  private readonly owners = new Set<string>()
  private readonly listeners = new Set<Committed>()
  private persisting: Promise<void> = Promise.resolve()
  private writing = false
  private readonly pending: Array<{ entry: LogEntry; old: Replica; next: Replica; diff: unknown; snap: LogSnapshot | undefined }> = []
  /** Appends waiting to be durable, in seq order (see `whenDurable`). */
  private readonly waiters: Array<{ seq: number; resolve: () => void; reject: (err: Error) => void }> = []
  private failure: Error | undefined
  private closed = false
  private opened = false

  constructor(private readonly opts: LogOptions) {}

  /** Loads the latest snapshot and replays what follows it: the log goes on where it stood. */
  async open(): Promise<void> {
    const { store } = this.opts
    const [snap] = await store.snapshots(1)
    if (snap) {
      this.current = deepFreeze(snap.replica)
      this.last = snap.seq
      for (const o of snap.owners) this.owners.add(o)
    }
    for (;;) {
      const batch = await store.read(this.last + 1, 1024)
      if (!batch.length) break
      for (const e of batch) this.replay(e)
    }
    this.durable = this.last
    this.opened = true
  }

  private replay(e: LogEntry): void {
    this.current = applyEntry(this.current, e, (p) => this.opts.handlersOf(p)).next
    this.last = e.seq
    if (!isBuiltIn(e.type)) this.owners.add(ownerOf(e.type))
    this.keep(e)
  }

  get head(): number { return this.last }
  /** The last seq known durable. */
  get committed(): number { return this.durable }
  get replica(): Replica { return this.current }

  onCommitted(fn: Committed): () => void {
    this.listeners.add(fn)
    return () => void this.listeners.delete(fn)
  }

  /**
   * Appends an entry whose args are already checked (entry.ts) and resolves with it once durable.
   * `cause`: the seq of the entry a reaction answered; if an entry of the same type and args was
   * appended since, that one is returned and nothing is appended (every instance reacts alike).
   * Throws RIG_ERR_COORD_HANDLER, appending nothing, when a core plugin's apply or diff throws.
   */
  append(type: string, args: unknown, cause?: number): Promise<LogEntry> {
    if (this.closed || this.failure || !this.opened) return Promise.reject(this.failure ?? new OutriggerError('RIG_ERR_CLOSED', `coordination log: "${type}" refused: the log is ${this.opened ? 'closed' : 'not open yet (a plugin factory runs before it opens; append from init on)'}`))
    if (cause !== undefined) {
      const dup = this.duplicate(type, args, cause)
      if (dup) return this.whenDurable(dup)
    }
    const entry: LogEntry = deepFreeze({ seq: this.last + 1, type, args, at: Date.now() })
    const old = this.current
    const applied = applyEntry(old, entry, (p) => this.opts.handlersOf(p))
    if (applied.failure) {
      const f = applied.failure
      return Promise.reject(new OutriggerError('RIG_ERR_COORD_HANDLER', `plugin "${f.plugin}": its ${f.stage} of entry "${type}" threw: ${f.message}; the entry was refused and no replica changed`, { details: { plugin: f.plugin, type, stage: f.stage } }))
    }
    this.current = applied.next
    this.last = entry.seq
    if (!isBuiltIn(type)) this.owners.add(ownerOf(type))
    this.keep(entry)
    const snap: LogSnapshot | undefined = entry.seq % this.opts.snapshotEvery === 0 ? { seq: entry.seq, replica: applied.next, owners: [...this.owners] } : undefined
    this.pending.push({ entry, old, next: applied.next, diff: applied.diff, snap })
    if (!this.writing) this.persisting = this.writeLoop()
    return this.whenDurable(entry)
  }

  /**
   * Group commit: what was appended while a write was under way goes in the next one, as one
   * batch (one lmdb transaction). Batches are written one after another, so listeners hear of
   * entries in seq order, each only once it is durable: no instance ever applies an entry that a
   * crash could take back.
   */
  private async writeLoop(): Promise<void> {
    this.writing = true
    try {
      // Appends made in the same synchronous run join the first batch; later ones queue behind it.
      await null
      while (this.pending.length && !this.failure) {
        const batch = this.pending.splice(0)
        try {
          await this.opts.store.append(batch.map((b) => b.entry))
          for (const b of batch) if (b.snap) await this.opts.store.writeSnapshot(b.snap)
        } catch (err) {
          const first = batch[0].entry
          this.failure = new OutriggerError('RIG_ERR_COORD_LOG', `coordination log: the write of entries ${first.seq}–${batch[batch.length - 1].entry.seq} failed: ${(err as Error).message}`, { cause: err })
          break
        }
        for (const b of batch) {
          this.durable = b.entry.seq
          for (const l of this.listeners) l(b.entry, b.old, b.next, b.diff)
        }
        this.settleWaiters()
      }
    } finally {
      this.writing = false
      this.settleWaiters()
    }
  }

  /** Resolves the waiters whose entry is durable; once writing stopped, rejects the rest. */
  private settleWaiters(): void {
    let n = 0
    while (n < this.waiters.length && this.waiters[n].seq <= this.durable) this.waiters[n++].resolve()
    this.waiters.splice(0, n)
    if (this.writing && !this.failure) return
    const err = this.failure ?? new OutriggerError('RIG_ERR_COORD_LOG', 'coordination log: an entry was not written')
    for (const w of this.waiters.splice(0)) w.reject(err)
  }

  private whenDurable(entry: LogEntry): Promise<LogEntry> {
    if (this.durable >= entry.seq) return Promise.resolve(entry)
    return new Promise<LogEntry>((resolve, reject) => {
      const w = { seq: entry.seq, resolve: () => resolve(entry), reject }
      // Appends come in seq order; a duplicate's older entry may wait behind newer ones.
      const at = this.waiters.findLastIndex((x) => x.seq <= entry.seq)
      this.waiters.splice(at + 1, 0, w)
    })
  }

  /** An entry of `type` with the same args after `cause`, if one is still in memory. */
  private duplicate(type: string, args: unknown, cause: number): LogEntry | undefined {
    const json = JSON.stringify(args)
    for (let i = this.tail.length - 1; i >= 0 && this.tail[i].seq > cause; i--) {
      const e = this.tail[i]
      if (e.type === type && JSON.stringify(e.args) === json) return e
    }
    return undefined
  }

  private keep(e: LogEntry): void {
    this.tail.push(e)
    if (this.tail.length > TAIL * 2) this.tail.splice(0, this.tail.length - TAIL)
  }

  /** Up to `limit` durable entries from `from` on: from memory when it still holds them. */
  async read(from: number, limit: number): Promise<LogEntry[]> {
    from = Math.max(1, from)
    const upTo = Math.min(this.durable, from + limit - 1)
    if (upTo < from) return []
    const first = this.tail[0]?.seq
    if (first !== undefined && from >= first) return this.tail.slice(from - first, upTo - first + 1)
    return (await this.opts.store.read(from, upTo - from + 1))
  }

  /** Plugins that appended entries of their own by now. */
  ownerNames(): string[] {
    return [...this.owners]
  }

  /** Waits for the writes under way; later appends are refused. */
  async close(): Promise<void> {
    await this.persisting
    this.closed = true
  }
}
