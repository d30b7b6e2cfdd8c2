import { mkdirSync } from 'node:fs'
import { open, type Database, type RootDatabase } from 'lmdb'
import { OutriggerError, errorMessage } from '../errors.js'
import type { LogSnapshot, LogStore } from './log-store.js'
import type { LogEntry } from './types.js'

/** How many snapshots are kept; older ones (and their namespaces) go once a newer one is written. */
const KEEP_SNAPSHOTS = 4

/** The log in one lmdb environment: entries and snapshots keyed by seq, namespaces by [plugin, seq]. */
export class LmdbLogStore implements LogStore {
  private readonly root: RootDatabase
  private readonly entries: Database<LogEntry, number>
  private readonly snaps: Database<LogSnapshot, number>
  private readonly metas: Database<{ meta: unknown }, [string, number]>

  constructor(readonly dir: string) {
    try {
      mkdirSync(dir, { recursive: true })
      this.root = open({ path: dir, compression: false })
      this.entries = this.root.openDB({ name: 'entries' })
      this.snaps = this.root.openDB({ name: 'snapshots' })
      this.metas = this.root.openDB({ name: 'meta' })
    } catch (err) {
      throw new OutriggerError('RIG_ERR_COORD_LOG', `the coordination log at ${dir} cannot be opened: ${errorMessage(err)}`, { cause: err, details: { dir } })
    }
  }

  async append(entries: LogEntry[]): Promise<void> {
    // lmdb gathers the puts of one tick into one transaction, committed off the main thread, in order.
    await Promise.all(entries.map((e) => this.entries.put(e.seq, e)))
  }

  async read(from: number, limit: number): Promise<LogEntry[]> {
    const out: LogEntry[] = []
    for (const { value } of this.entries.getRange({ start: Math.max(1, from), limit })) out.push(value)
    return out
  }

  async head(): Promise<number> {
    for (const { key } of this.entries.getRange({ reverse: true, limit: 1 })) return key
    return 0
  }

  async writeSnapshot(snap: LogSnapshot): Promise<void> {
    await this.snaps.put(snap.seq, snap)
    const old = [...this.snaps.getKeys({ reverse: true, offset: KEEP_SNAPSHOTS })]
    for (const seq of old) await this.snaps.remove(seq)
    if (old.length) {
      const oldest = Math.max(...old)
      for (const key of this.metas.getKeys()) if (key[1] <= oldest) await this.metas.remove(key)
    }
  }

  async snapshots(limit: number): Promise<LogSnapshot[]> {
    return [...this.snaps.getRange({ reverse: true, limit })].map((r) => r.value)
  }

  async putMeta(plugin: string, seq: number, meta: unknown): Promise<void> {
    await this.metas.put([plugin, seq], { meta })
  }

  async getMeta(plugin: string, seq: number): Promise<{ meta: unknown } | undefined> {
    return this.metas.get([plugin, seq])
  }

  async close(): Promise<void> {
    await this.root.close()
  }
}
