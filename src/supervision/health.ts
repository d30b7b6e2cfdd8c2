import type { Health, PluginStatus } from '../supervisor/status-types.js'

/** A host event loop whose p99 delay passes this is stalled: the supervisor itself is unwell. */
export const STALLED_LOOP_MS = 1000

/**
 * unhealthy: a plugin failed or quarantined, or the host's own loop is stalled;
 * degraded: something is restarting, unresponsive or dropping events, or a worker plugin is
 * stopped while the supervisor runs (its restart policy left it down: a live host with a dead
 * plugin is not healthy; its `lastError` says why); else healthy.
 * `recentlyDropping` names the plugins whose drop counters moved in the last window.
 * `stopping`: the supervisor itself is stopping, so stopped plugins are expected.
 */
export function rollupHealth(plugins: PluginStatus[], loopP99Ms: number, recentlyDropping: Set<string>, stopping = false): Health {
  if (loopP99Ms > STALLED_LOOP_MS) return 'unhealthy'
  if (plugins.some((p) => p.state === 'failed' || p.state === 'quarantined')) return 'unhealthy'
  const wobbly = plugins.some(
    (p) =>
      p.state === 'restarting' ||
      p.state === 'degraded' ||
      (p.state === 'stopped' && p.type === 'worker' && !stopping) ||
      recentlyDropping.has(p.name) ||
      p.instances.some((i) => i.state === 'unresponsive' || i.state === 'restarting'),
  )
  return wobbly ? 'degraded' : 'healthy'
}

/**
 * Remembers drop counters so "dropping" means "dropped within the last window", not "ever".
 * Drops already there when a plugin is first seen happened at some unknown time before: they
 * count as seen now, so drops before the first status() call are flagged, not taken as old.
 */
export class DropWatch {
  private readonly seen = new Map<string, { count: number; at: number }>()
  constructor(private readonly windowMs = 10_000) {}

  dropping(plugins: PluginStatus[], now = Date.now()): Set<string> {
    const out = new Set<string>()
    for (const p of plugins) {
      const count = p.queue.dropped + p.queue.rejected
      const prev = this.seen.get(p.name)
      if (!prev || count !== prev.count) this.seen.set(p.name, { count, at: now })
      const last = this.seen.get(p.name)!
      if (count > 0 && now - last.at < this.windowMs) out.add(p.name)
    }
    return out
  }
}
