import type { WorkerPlugin } from './worker-plugin.js'

/**
 * `emit` (the supervisor's), then resolves once the event is committed to the journal of every
 * durable plugin it was routed to; at once when it reached none. Rejects when a journal refused
 * it (`RIG_ERR_NOT_CLONEABLE`) or failed (`RIG_ERR_JOURNAL`).
 */
export async function emitDurable(plugins: readonly WorkerPlugin[], emit: () => void): Promise<void> {
  const commits: Array<Promise<void>> = []
  // While set, every event a durable queue receives adds the promise of its commit: emit is
  // synchronous, so these are exactly this event's appends.
  const queues = plugins.flatMap((w) => w.durable ?? [])
  for (const q of queues) q.capture = commits
  try {
    emit()
  } finally {
    for (const q of queues) q.capture = undefined
  }
  await Promise.all(commits)
}

/** Resolves once everything emitted so far is committed to the journals of durable plugins. */
export async function flushJournals(plugins: readonly WorkerPlugin[]): Promise<void> {
  await Promise.all(plugins.map((w) => w.durable?.journal.flush()))
}
