/**
 * The coordination log, as its single writer (the supervisor) keeps it: hands out seqs, applies
 * each entry to the supervisor's replica before it is accepted, persists it, and tells listeners
 * once it is durable, in seq order. A snapshot every `snapshotEvery` entries bounds what a
 * restart replays.
 */
import { OutriggerError } from '../errors.js'
import { LogBase, type Applied } from './log-base.js'
import type { LogStore } from './log-store.js'
import { applyEntry, deepFreeze } from './replica.js'
import type { CoordinationMap, LogEntry } from './types.js'

export type { Committed, Log } from './log-base.js'

export interface LogOptions {
  store: LogStore
  snapshotEvery: number
  /** The handlers the supervisor applies entries with: core plugins' (it never runs worker code). */
  handlersOf(plugin: string): CoordinationMap | undefined
}

export class CoordinationLog extends LogBase {
  private persisting: Promise<void> = Promise.resolve()
  private writing = false
  private readonly pending: Applied[] = []
  private failure: Error | undefined
  private closed = false
  private opened = false

  constructor(private readonly opts: LogOptions) {
    super(opts.snapshotEvery, opts.handlersOf)
  }

  get store(): LogStore {
    return this.opts.store
  }

  async open(): Promise<void> {
    await this.load(this.opts.store)
    this.opened = true
  }

  append(type: string, args: unknown, cause?: number): Promise<LogEntry> {
    if (this.closed || this.failure || !this.opened) return Promise.reject(this.failure ?? new OutriggerError('RIG_ERR_CLOSED', `coordination log: "${type}" refused: the log is ${this.opened ? 'closed' : 'not open yet (a plugin factory runs before it opens; append from init on)'}`))
    if (cause !== undefined) {
      const dup = this.duplicate(type, args, cause)
      if (dup) return this.whenDurable(dup)
    }
    const entry: LogEntry = deepFreeze({ seq: this.last + 1, type, args, at: Date.now() })
    const old = this.current
    const applied = applyEntry(old, entry, this.handlersOf)
    if (applied.failure) {
      const f = applied.failure
      return Promise.reject(new OutriggerError('RIG_ERR_COORD_HANDLER', `plugin "${f.plugin}": its ${f.stage} of entry "${type}" threw: ${f.message}; the entry was refused and no replica changed`, { details: { plugin: f.plugin, type, stage: f.stage } }))
    }
    const snap = this.advance(entry, applied.next)
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
        this.publish(batch)
      }
    } finally {
      this.writing = false
      if (this.failure) this.failWaiting(this.failure)
    }
  }

  async close(): Promise<void> {
    await this.persisting
    this.closed = true
    await this.opts.store.close()
  }
}
