import { mkdirSync } from 'node:fs'
import { open, type Database, type RootDatabase } from 'lmdb'
import type { StateStore } from '../plugin/state-store.js'

/**
 * The durable default: one lmdb environment under `stateDir`, with plain values and counters in
 * two named databases. Keys are `[namespace, key]` arrays so a namespace is one ordered range.
 */
export class LmdbStore implements StateStore {
  private readonly root: RootDatabase
  private readonly values: Database<unknown, [string, string]>
  private readonly counters: Database<number, [string, string]>

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true })
    this.root = open({ path: dir, compression: false })
    this.values = this.root.openDB({ name: 'values' })
    this.counters = this.root.openDB({ name: 'counters' })
  }

  async get(ns: string, key: string): Promise<unknown> {
    return this.values.get([ns, key])
  }
  async put(ns: string, key: string, value: unknown): Promise<void> {
    await this.values.put([ns, key], value)
  }
  async delete(ns: string, key: string): Promise<void> {
    await Promise.all([this.values.remove([ns, key]), this.counters.remove([ns, key])])
  }
  async incr(ns: string, key: string, amount: number): Promise<number> {
    // The read-modify-write runs inside one of lmdb's batched write transactions: atomic (no
    // lost updates, even with other processes on the folder), and committed off the event loop.
    // A synchronous commit per increment cost the host most of its CPU under load.
    return this.counters.transaction(() => {
      const next = (this.counters.get([ns, key]) ?? 0) + amount
      this.counters.putSync([ns, key], next)
      return next
    })
  }
  async getCounter(ns: string, key: string): Promise<number> {
    return this.counters.get([ns, key]) ?? 0
  }
  async list(ns: string, prefix = ''): Promise<Array<[string, unknown]>> {
    const out: Array<[string, unknown]> = []
    for (const { key, value } of this.values.getRange({ start: [ns, prefix] })) {
      if (key[0] !== ns || !key[1].startsWith(prefix)) break
      out.push([key[1], value])
    }
    return out
  }
  async close(): Promise<void> {
    await this.root.close()
  }
}
