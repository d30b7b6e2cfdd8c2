/**
 * What `npm run demo:load` reports of one run. The demo's counters and its analytics report are
 * totals since the host started (the report even survives restarts, in the state store), so a
 * second run would add the first one's numbers to its own: everything here is after − before.
 */
import type { PluginStatus } from '../src/supervisor/status-types.js'

export interface RunCounts {
  received: number
  processed: number
  failed: number
  dropped: number
  rejected: number
  lost: number
  redelivered: number
  deadLettered: number
}

/** The plugin's counters for this run only. */
export function runCounts(after: PluginStatus, before: PluginStatus): RunCounts {
  const d = (read: (p: PluginStatus) => number): number => read(after) - read(before)
  return {
    received: d((p) => p.events.received),
    processed: d((p) => p.events.processed),
    failed: d((p) => p.events.failed),
    dropped: d((p) => p.queue.dropped),
    rejected: d((p) => p.queue.rejected),
    lost: d((p) => p.events.lost),
    redelivered: d((p) => p.events.redelivered),
    deadLettered: d((p) => p.events.deadLettered),
  }
}

/**
 * `after − before` of a JSON report, number by number (nested objects included); what is not a
 * number is taken from `after`. Keys that end at 0 are kept, so the shape stays the report's.
 */
export function reportDelta(after: unknown, before: unknown): unknown {
  if (typeof after === 'number') return typeof before === 'number' ? after - before : after
  if (after !== null && typeof after === 'object' && !Array.isArray(after)) {
    const b = before !== null && typeof before === 'object' && !Array.isArray(before) ? (before as Record<string, unknown>) : {}
    return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, reportDelta(v, b[k])]))
  }
  return after
}
