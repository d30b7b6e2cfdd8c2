/**
 * What every coordination log keeps, whoever orders its entries: the replica as applied so far,
 * the last entries in memory, the listeners told of each entry once it is durable (in seq order),
 * and the appends waiting for that. The embedded log (log.ts) hands out seqs itself; a cluster's
 * log (cluster/cluster-log.ts) takes them from Redis. Both build on this.
 */
import { isBuiltIn } from './builtin.js'
import { ownerOf } from './entry.js'
import type { LogSnapshot, LogStore } from './log-store.js'
import { LogTail } from './log-tail.js'
import { applyEntry, deepFreeze, EMPTY_REPLICA } from './replica.js'
import type { CoordinationMap, LogEntry, Replica } from './types.js'

/** Told of each entry once durable: the replica before and after it, and the owner's diff. */
export type Committed = (entry: LogEntry, old: Replica, next: Replica, diff: unknown) => void

/** What the coordinator and the faces use of a log. */
export interface Log {
  /** Loads what is stored and catches up: the log goes on where it stood. */
  open(): Promise<void>
  /** The last seq applied here (an embedded log's may not be durable yet). */
  readonly head: number
  /** The last seq known durable: listeners have been told of everything up to it. */
  readonly committed: number
  readonly replica: Replica
  /** Where entries, snapshots and worker plugins' namespaces are kept on this host. */
  readonly store: LogStore
  onCommitted(fn: Committed): () => void
  /**
   * Appends an entry whose args are already checked (entry.ts) and resolves with it once durable.
   * `cause`: the seq of the entry a reaction answered; if an entry of the same type and args was
   * appended since, that one is returned and nothing is appended (every instance reacts alike).
   * Rejects with RIG_ERR_COORD_HANDLER, appending nothing, when a core plugin's apply or diff throws.
   */
  append(type: string, args: unknown, cause?: number): Promise<LogEntry>
  /** Up to `limit` durable entries from `from` on. */
  read(from: number, limit: number): Promise<LogEntry[]>
  /** Plugins that appended entries of their own by now. */
  ownerNames(): string[]
  /** Waits for the writes under way, then closes the store; later appends are refused. */
  close(): Promise<void>
}

/** An entry applied here and not yet told to the listeners. */
export interface Applied {
  entry: LogEntry
  old: Replica
  next: Replica
  diff: unknown
  snap: LogSnapshot | undefined
}

export abstract class LogBase implements Log {
  protected current: Replica = EMPTY_REPLICA
  protected last = 0
  protected durable = 0
  /** The last entries, for catch-up reads and duplicate checks; older ones are read from the store. */
  private readonly tail = new LogTail()
  private readonly owners = new Set<string>()
  private readonly listeners = new Set<Committed>()
  /** Appends waiting to be durable, in seq order (see `whenDurable`). */
  private readonly waiters: Array<{ seq: number; resolve: () => void; reject: (err: Error) => void }> = []

  constructor(protected readonly snapshotEvery: number, protected readonly handlersOf: (plugin: string) => CoordinationMap | undefined) {}

  abstract open(): Promise<void>
  abstract append(type: string, args: unknown, cause?: number): Promise<LogEntry>
  abstract close(): Promise<void>
  abstract get store(): LogStore

  get head(): number { return this.last }
  get committed(): number { return this.durable }
  get replica(): Replica { return this.current }

  onCommitted(fn: Committed): () => void {
    this.listeners.add(fn)
    return () => void this.listeners.delete(fn)
  }

  ownerNames(): string[] {
    return [...this.owners]
  }

  /** The latest stored snapshot, then every stored entry after it: where this host stood. */
  protected async load(store: LogStore): Promise<void> {
    const [snap] = await store.snapshots(1)
    if (snap) {
      this.current = deepFreeze(snap.replica)
      this.last = snap.seq
      for (const o of snap.owners) this.owners.add(o)
    }
    for (;;) {
      const batch = await store.read(this.last + 1, 1024)
      if (!batch.length) break
      // Replayed, not reacted to: a handler that throws now threw (or did not) when it was new.
      for (const e of batch) this.advance(e, applyEntry(this.current, e, this.handlersOf).next)
    }
    this.durable = this.last
  }

  /** `e` is applied: the replica moves on, and the snapshot to write with it, if one is due. */
  protected advance(e: LogEntry, next: Replica): LogSnapshot | undefined {
    this.current = next
    this.last = e.seq
    // A stop that took a plugin's namespace leaves it owning none until its next entry, and is a
    // snapshot of its own: a later start begins there, empty, instead of replaying entries that
    // went with the plugin (and that its new code may refuse, which would mark it failed).
    const dropped = droppedNamespace(e, next)
    if (!isBuiltIn(e.type)) this.owners.add(ownerOf(e.type))
    else if (dropped) this.owners.delete((e.args as { plugin: string }).plugin)
    this.tail.push(e)
    return e.seq % this.snapshotEvery === 0 || dropped ? { seq: e.seq, replica: next, owners: [...this.owners] } : undefined
  }

  /** Entries are durable: the listeners hear of them in order, and their appends resolve. */
  protected publish(batch: Applied[]): void {
    for (const b of batch) {
      this.durable = b.entry.seq
      for (const l of this.listeners) l(b.entry, b.old, b.next, b.diff)
    }
    let n = 0
    while (n < this.waiters.length && this.waiters[n].seq <= this.durable) this.waiters[n++].resolve()
    this.waiters.splice(0, n)
  }

  /** Nothing more becomes durable: every append still waiting fails with `err`. */
  protected failWaiting(err: Error): void {
    for (const w of this.waiters.splice(0)) w.reject(err)
  }

  protected whenDurable(entry: LogEntry): Promise<LogEntry> {
    if (this.durable >= entry.seq) return Promise.resolve(entry)
    return new Promise<LogEntry>((resolve, reject) => {
      const w = { seq: entry.seq, resolve: () => resolve(entry), reject }
      // Appends come in seq order; a duplicate's older entry may wait behind newer ones.
      const at = this.waiters.findLastIndex((x) => x.seq <= entry.seq)
      this.waiters.splice(at + 1, 0, w)
    })
  }

  /** An entry of `type` with the same args after `cause`, among those applied here (and `more`). */
  protected duplicate(type: string, args: unknown, cause: number, more: LogEntry[] = []): LogEntry | undefined {
    const json = more.length ? JSON.stringify(args) : ''
    return more.find((e) => e.type === type && JSON.stringify(e.args) === json) ?? this.tail.duplicate(type, args, cause)
  }

  async read(from: number, limit: number): Promise<LogEntry[]> {
    from = Math.max(1, from)
    const upTo = Math.min(this.durable, from + limit - 1)
    if (upTo < from) return []
    return this.tail.slice(from, upTo) ?? this.readStored(from, upTo - from + 1)
  }

  /** Entries no longer in memory. */
  protected readStored(from: number, count: number): Promise<LogEntry[]> {
    return this.store.read(from, count)
  }
}

/** A `plugin/stopped` that took the plugin's namespace with it (builtin.ts decides; in a cluster, only the last node's). */
function droppedNamespace(e: LogEntry, next: Replica): boolean {
  if (e.type !== 'plugin/stopped') return false
  const { plugin, cause } = e.args as { plugin: string; cause?: string }
  return (cause === 'disabled' || cause === 'removed') && next.plugins?.[plugin]?.since === e.seq
}
