/**
 * Where the log is kept. The supervisor is its single writer; a store only has to keep entries in
 * seq order and snapshots beside them. The embedded default is lmdb (lmdb-log-store.ts); another
 * backend (a Redis Stream, for a cluster) implements the same few calls.
 */
import type { LogEntry, Replica } from './types.js'

/** The supervisor's replica at `seq`, and which plugins had appended entries of their own by then. */
export interface LogSnapshot {
  seq: number
  replica: Replica
  /** Plugins with at least one own entry at or before `seq` (their namespace may be non-empty). */
  owners: string[]
}

export interface LogStore {
  /** Stores entries that follow the stored ones without a gap; resolves once they are durable. */
  append(entries: LogEntry[]): Promise<void>
  /** Up to `limit` entries from seq `from` on, in order. */
  read(from: number, limit: number): Promise<LogEntry[]>
  /** The last stored seq; 0 for an empty log. */
  head(): Promise<number>
  writeSnapshot(snap: LogSnapshot): Promise<void>
  /** Stored snapshots, newest first, at most `limit`. */
  snapshots(limit: number): Promise<LogSnapshot[]>
  /**
   * A worker plugin's namespace at a snapshot seq, as one of its instances computed it (the
   * supervisor cannot: it never runs worker plugin code). `undefined`: not stored.
   */
  putMeta(plugin: string, seq: number, meta: unknown): Promise<void>
  getMeta(plugin: string, seq: number): Promise<{ meta: unknown } | undefined>
  close(): Promise<void>
}
