/**
 * The state store behind `ctx.state` and the dead letters. Keys are namespaced (one namespace
 * per plugin, plus the supervisor's own), so one store serves everything.
 */
export interface StateStore {
  get(ns: string, key: string): Promise<unknown>
  put(ns: string, key: string, value: unknown): Promise<void>
  delete(ns: string, key: string): Promise<void>
  /** Atomic add; returns the new value. A counter lives beside, not in, the plain keys. */
  incr(ns: string, key: string, amount: number): Promise<number>
  getCounter(ns: string, key: string): Promise<number>
  /** Every `[key, value]` of a namespace whose key starts with `prefix`, in key order. */
  list(ns: string, prefix?: string): Promise<Array<[string, unknown]>>
  close(): Promise<void>
}
