import { OutriggerError } from '../errors.js'
import type { WorkerSettings } from '../manifest/schema.js'

export type RestartDecision = { action: 'restart'; delayMs: number } | { action: 'quarantine' } | { action: 'stay-down' }

/**
 * OTP's restart semantics for one worker plugin: `permanent` always restarts, `transient` only
 * after an abnormal exit, `temporary` never. More than `maxRestarts` within `windowMs` is a crash
 * loop. Backoff doubles from `initial` to `max` and resets once an instance has stayed up a while.
 */
export class RestartPolicy {
  private readonly times: number[] = []
  private consecutive = 0

  constructor(private readonly cfg: WorkerSettings['restart']) {}

  /** The instance ran this long before it ended; `abnormal` is false for a clean, asked-for exit. */
  decide(abnormal: boolean, uptimeMs: number, now = Date.now()): RestartDecision {
    if (this.cfg.policy === 'temporary' || (this.cfg.policy === 'transient' && !abnormal)) return { action: 'stay-down' }
    if (uptimeMs >= this.stableMs()) this.consecutive = 0
    while (this.times.length && now - this.times[0] > this.cfg.windowMs) this.times.shift()
    if (this.times.length >= this.cfg.maxRestarts) return { action: 'quarantine' }
    this.times.push(now)
    const delayMs = Math.min(this.cfg.backoffMs.initial * 2 ** this.consecutive, this.cfg.backoffMs.max)
    this.consecutive++
    return { action: 'restart', delayMs }
  }

  /** An operator restart forgives the past. */
  reset(): void {
    this.times.length = 0
    this.consecutive = 0
  }

  private stableMs(): number {
    return Math.max(1000, this.cfg.backoffMs.max)
  }
}

/**
 * The policy left instance `id` down (`stay-down`). `alone`: no other instance is up or coming
 * back, so the plugin is stopped. The error says why and what to do.
 */
export function stayDownError(plugin: string, cfg: WorkerSettings['restart'], id: number, cause: Error, abnormal: boolean, alone: boolean): OutriggerError {
  const why = cfg.policy === 'temporary' ? 'restart policy "temporary" never restarts it' : 'restart policy "transient" restarts only after a crash'
  const effect = alone ? `plugin "${plugin}" is stopped and drops its new events` : `it stays down`
  return new OutriggerError('RIG_ERR_WORKER_STOPPED', `plugin "${plugin}" instance ${id} ${abnormal ? 'exited' : 'ended normally'} (${cause.message}) and ${why}: ${effect} until "outrigger restart ${plugin}"`, { cause })
}

/** The policy found a crash loop (`quarantine`). */
export function crashLoopError(plugin: string, cfg: WorkerSettings['restart']): OutriggerError {
  const { maxRestarts, windowMs } = cfg
  return new OutriggerError('RIG_ERR_CRASH_LOOP', `plugin "${plugin}" restarted more than ${maxRestarts} times within ${windowMs} ms and is quarantined; fix it, then run "outrigger restart ${plugin}"`)
}
