import { isDeepStrictEqual } from 'node:util'
import { OutriggerError, errorMessage } from '../errors.js'
import type { WorkerSettings } from '../manifest/schema.js'
import type { InstanceSet } from '../supervision/instance-set.js'

/**
 * Worker settings the queue, its partitions, the retry books and the restart policy are built
 * around, once, at start: a reload that changes one is refused (a host restart applies it).
 * Every other setting (isolation, limits, and those added later) takes effect with the new
 * instances.
 */
const FIXED = ['instances', 'delivery', 'partitionBy', 'queue', 'maxAttempts', 'retry', 'restart'] as const

/** A refusal: nothing was changed. */
export function reloadRefused(plugin: string, why: string): OutriggerError {
  return new OutriggerError('RIG_ERR_RELOAD_REFUSED', `plugin "${plugin}": ${why}; nothing was changed`, { details: { plugin } })
}

/** The new code or manifest failed; `keeps` says what still serves. */
export function reloadFailure(plugin: string, err: unknown, keeps = 'the running instances keep the old code'): OutriggerError {
  return new OutriggerError('RIG_ERR_RELOAD_FAILED', `plugin "${plugin}": reload failed, ${keeps}: ${errorMessage(err)}`, { cause: err, details: { plugin } })
}

/**
 * Puts what a reload may change of `next` into the live settings `cfg` (which the dispatcher and
 * the instance set hold), after checking that nothing fixed changed. Returns the undo.
 */
export function applySettings(plugin: string, cfg: WorkerSettings, next: WorkerSettings): () => void {
  for (const f of FIXED) {
    if (!isDeepStrictEqual(cfg[f], next[f])) {
      throw reloadRefused(plugin, `worker.${f} changed (${JSON.stringify(cfg[f])} → ${JSON.stringify(next[f])}), and the running queue is built around it; restart the host to apply it, or put the old value back and reload`)
    }
  }
  const live = cfg as Record<string, unknown>
  const before = { ...live }
  for (const [k, v] of Object.entries(next)) if (!(FIXED as readonly string[]).includes(k)) live[k] = v
  return () => {
    for (const k of Object.keys(live)) if (!(k in before)) delete live[k]
    Object.assign(live, before)
  }
}

/**
 * Rolls a worker plugin's instances onto the code and settings it was just given (`use`), one
 * at a time (instance-roll.ts). When no instance is up (quarantined, stopped by its policy, a
 * failed start), there is nothing to roll: every instance starts afresh, as an operator restart.
 */
export async function rollOnto(o: {
  plugin: string
  cfg: WorkerSettings
  next: WorkerSettings
  instances: InstanceSet
  /** Switches the plugin to the new spec (true) or back to the old one (false). */
  use(fresh: boolean): void
}): Promise<{ rolled: number }> {
  const undo = applySettings(o.plugin, o.cfg, o.next)
  o.use(true)
  if (!o.instances.anyUp()) {
    await o.instances.operatorRestart()
    return { rolled: o.cfg.instances }
  }
  const { rolled, error } = await o.instances.roll()
  if (error === undefined) return { rolled }
  if (rolled === 0) {
    undo()
    o.use(false)
    throw reloadFailure(o.plugin, error)
  }
  throw reloadFailure(o.plugin, error, `instances 0–${rolled - 1} run the new code and instances ${rolled}–${o.cfg.instances - 1} keep the old code`)
}
