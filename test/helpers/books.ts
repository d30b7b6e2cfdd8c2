import assert from 'node:assert/strict'
import type { PluginStatus } from '../../src/supervisor/status-types.js'

/** DESIGN §5: every event a worker plugin received is in exactly one bucket. */
export function assertBooks(p: PluginStatus): void {
  const e = p.events
  const q = p.queue
  assert.equal(e.received, e.processed + e.failed + e.inFlight + q.depth + q.dropped + q.rejected + e.lost + e.deadLettered, `books of ${p.name}: ${JSON.stringify({ ...e, ...q })}`)
}
