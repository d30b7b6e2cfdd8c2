import type { WorkerSettings } from '../manifest/schema.js'
import type { Pending } from './queue.js'

/**
 * Failed events waiting out their retry backoff (doubling with the attempts made,
 * `worker.retry.backoffMs`, up to its max), so a failing dependency is not hammered. Events
 * with the same delay share one timer; `due` gets them back when it fires.
 */
export class RetryBackoff {
  /** Failed events waiting out their retry backoff, by timer. */
  private readonly timers = new Map<NodeJS.Timeout, Pending[]>()
  /** How many events are waiting. */
  waiting = 0

  constructor(private readonly cfg: WorkerSettings, private readonly due: (group: Pending[]) => void) {}

  wait(events: Pending[]): void {
    const { initial, max } = this.cfg.retry.backoffMs
    const byDelay = new Map<number, Pending[]>()
    for (const p of events) {
      const delayMs = Math.min(initial * 2 ** Math.max(0, p.attempts - 1), max)
      const group = byDelay.get(delayMs)
      if (group) group.push(p)
      else byDelay.set(delayMs, [p])
    }
    for (const [delayMs, group] of byDelay) {
      this.waiting += group.length
      const timer = setTimeout(() => {
        this.timers.delete(timer)
        this.waiting -= group.length
        this.due(group)
      }, delayMs)
      this.timers.set(timer, group)
    }
  }

  /** Shutdown: the timers stopped, every waiting event. */
  drain(): Pending[] {
    const left: Pending[] = []
    for (const [timer, group] of this.timers) {
      clearTimeout(timer)
      left.push(...group)
    }
    this.timers.clear()
    this.waiting = 0
    return left
  }
}
