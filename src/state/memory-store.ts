import type { StateStore } from '../plugin/state-store.js'

/** Throwaway state for tests and hosts that want nothing on disk. Values are cloned on the way in. */
export class MemoryStore implements StateStore {
  private readonly values = new Map<string, unknown>()
  private readonly counters = new Map<string, number>()

  async get(ns: string, key: string): Promise<unknown> {
    const v = this.values.get(k(ns, key))
    return v === undefined ? undefined : structuredClone(v)
  }
  async put(ns: string, key: string, value: unknown): Promise<void> {
    this.values.set(k(ns, key), structuredClone(value))
  }
  async delete(ns: string, key: string): Promise<void> {
    this.values.delete(k(ns, key))
    this.counters.delete(k(ns, key))
  }
  async incr(ns: string, key: string, amount: number): Promise<number> {
    // Atomic by construction: the read and the write happen in one synchronous step.
    const next = (this.counters.get(k(ns, key)) ?? 0) + amount
    this.counters.set(k(ns, key), next)
    return next
  }
  async getCounter(ns: string, key: string): Promise<number> {
    return this.counters.get(k(ns, key)) ?? 0
  }
  async list(ns: string, prefix = ''): Promise<Array<[string, unknown]>> {
    const start = k(ns, prefix)
    return [...this.values.entries()]
      .filter(([key]) => key.startsWith(start))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, v]) => [key.slice(ns.length + 1), structuredClone(v)])
  }
  async close(): Promise<void> {}
}

const k = (ns: string, key: string) => `${ns}\u0000${key}`
