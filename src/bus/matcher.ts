/**
 * Subscriptions by pattern, matched once per event name in the supervisor and cached.
 *
 * A pattern is an exact event name (`orders:create`) or ends in `*`, which matches every name
 * with that prefix: `orders:*`, `orders:before*`, `orders:after*` and `*` itself. Matching here,
 * not in workers, is deliberate: Kuzzle matched wildcards in the worker against exact names and
 * its wildcard hooks never fired.
 */
export interface Subscription {
  plugin: string
  pattern: string
}

const CACHE_MAX = 10_000

export class Matcher<T extends Subscription> {
  private readonly exact = new Map<string, T[]>()
  private readonly prefixed: Array<{ prefix: string; sub: T }> = []
  private cache = new Map<string, readonly T[]>()
  /** Subscription order: plugins' start order, then the order of their keys. */
  private readonly order = new Map<T, number>()
  private seq = 0

  add(sub: T): void {
    this.order.set(sub, this.seq++)
    if (sub.pattern.endsWith('*')) this.prefixed.push({ prefix: sub.pattern.slice(0, -1), sub })
    else this.exact.set(sub.pattern, [...(this.exact.get(sub.pattern) ?? []), sub])
    this.cache = new Map()
  }

  /** Removes every subscription of a plugin (when it stops or is replaced). */
  removePlugin(plugin: string): void {
    for (const [k, subs] of this.exact) {
      const kept = subs.filter((s) => s.plugin !== plugin)
      if (kept.length) this.exact.set(k, kept)
      else this.exact.delete(k)
    }
    for (let i = this.prefixed.length - 1; i >= 0; i--) if (this.prefixed[i].sub.plugin === plugin) this.prefixed.splice(i, 1)
    this.cache = new Map()
  }

  match(event: string): readonly T[] {
    const hit = this.cache.get(event)
    if (hit) return hit
    const out = [...(this.exact.get(event) ?? [])]
    for (const { prefix, sub } of this.prefixed) if (event.startsWith(prefix)) out.push(sub)
    if (out.length > 1) out.sort((a, b) => this.order.get(a)! - this.order.get(b)!)
    // Event names can be unbounded (ids in names); a full cache starts over rather than grow.
    if (this.cache.size >= CACHE_MAX) this.cache = new Map()
    this.cache.set(event, out)
    return out
  }

  all(): T[] {
    return [...this.exact.values()].flat().concat(this.prefixed.map((p) => p.sub))
  }
}
