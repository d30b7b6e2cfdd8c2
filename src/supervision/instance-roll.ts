import { OutriggerError } from '../errors.js'
import type { WorkerInstance } from '../hosts/worker-host.js'
import type { InstanceLife } from './instance-life.js'

/** What a rolling reload needs from its instance set. */
export interface Rolling {
  plugin: string
  lives: readonly InstanceLife[]
  closing(): boolean
  /** Starts a new instance for `id` from the plugin's current code, ready (init and whenReady done). */
  launch(id: number): Promise<WorkerInstance>
  /** The owner's `retire`: true when the instance holds no work and may go now. */
  retire(id: number): boolean
  /** Makes `instance` the one that serves `l` (heartbeats, the dispatcher's target). */
  adopt(l: InstanceLife, instance: WorkerInstance): void
  /** How long an old instance may take to answer what it holds before it is killed. */
  drainMs: number
}

/** How a roll ended: how many ids run a new instance, and the start that failed, if one did. */
export interface RollResult {
  rolled: number
  error?: unknown
}

/**
 * Replaces every instance, one id at a time: the new instance is started and ready first; only
 * then does the old one stop taking batches, answer those it holds, and go. The new one is
 * attached once the old one holds nothing, so a partition's events are never run by two
 * instances at once and keep their order. A new instance that fails to start ends the roll
 * (`error`): that id and every later one keep their old instance (the ids before it already run
 * the new code, which loaded and initialised there). Only a stop of the supervisor throws.
 */
export async function rollInstances(r: Rolling): Promise<RollResult> {
  let rolled = 0
  for (const l of r.lives) {
    // A respawn under way ends first, so the instance it brings is the one handed over.
    await l.spawning?.catch(() => undefined)
    if (r.closing()) throw closed(r.plugin)
    let fresh: WorkerInstance
    try {
      fresh = await r.launch(l.id)
    } catch (error) {
      return { rolled, error }
    }
    if (r.closing()) {
      await fresh.kill()
      throw closed(r.plugin)
    }
    const old = l.instance
    if (old) await handOver(r, l, old)
    // A stop began during the hand-over: it halted the old instance; the new one must not outlive it.
    if (r.closing()) {
      await fresh.kill()
      throw closed(r.plugin)
    }
    // An id waiting out a restart backoff gets the new instance now.
    clearTimeout(l.timer)
    l.timer = undefined
    r.adopt(l, fresh)
    if (old && l.instance !== old) {
      // It holds nothing and takes nothing: a graceful stop runs its `close`.
      await old.stop().catch(() => undefined)
      await old.exited
    }
    rolled++
  }
  return { rolled }
}

/**
 * The old instance takes no new batch and answers those it holds. When it cannot within
 * `drainMs` (a hook that hangs), it is killed: what it held is then accounted for like after any
 * exit (redelivered under at-least-once). Resolves once it holds nothing or is gone.
 */
async function handOver(r: Rolling, l: InstanceLife, old: WorkerInstance): Promise<void> {
  l.expected = 'reload'
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => void old.kill(), r.drainMs)
    l.drained = () => {
      clearTimeout(timer)
      l.drained = undefined
      resolve()
    }
    if (r.retire(l.id)) l.drained()
  })
  if (l.instance === old) {
    // Still up: it is no longer watched, and its exit (asked for below) is no crash.
    l.unwatch?.()
    l.instance = undefined
  }
}

function closed(plugin: string): OutriggerError {
  return new OutriggerError('RIG_ERR_CLOSED', `plugin "${plugin}": the supervisor is stopping; the reload was abandoned`)
}
