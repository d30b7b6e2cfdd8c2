/**
 * The end of a worker plugin's run, as the supervisor's stop takes it: the drain waits until the
 * plugin's books are empty (nothing queued, in flight, in its journal's window or pending from its
 * cluster stream) or its deadline passes, and what it could not drain then leaves the books as
 * dead letters or lost events, said once in the log. The dispatcher and the journal tell when the
 * books may have emptied; the waiting and the last word live here, apart from the plugin handle.
 */
import type { Dispatcher } from '../delivery/dispatcher.js'
import type { SupervisorRuntime } from './plugin-handle.js'

export class DrainWait {
  private waiters: Array<() => void> = []

  /** @param idle whether the plugin's books are empty now. */
  constructor(private readonly idle: () => boolean) {}

  /** The books may have emptied: wakes the drain when they have. */
  check(): void {
    if (this.idle()) this.waiters.splice(0).forEach((f) => f())
  }

  /** Resolves once the books are empty, or at `deadline` (epoch ms), whichever comes first. */
  until(deadline: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()))
      this.waiters.push(() => {
        clearTimeout(timer)
        resolve()
      })
    })
  }
}

/**
 * Whatever could not be drained leaves the books explicitly: dead letters or lost; under durable
 * delivery it stays queued, in the journal, for the next run.
 */
export function abandonUndrained(plugin: string, dispatcher: Dispatcher, log: SupervisorRuntime['log']): void {
  const before = dispatcher.counters.deadLettered
  dispatcher.abandon('the supervisor stopped before the event was delivered')
  const left = dispatcher.counters.deadLettered - before
  if (left > 0) log.warn({ plugin, deadLettered: left }, `plugin "${plugin}": ${left} event(s) not delivered before the stop were dead-lettered; replay them with "outrigger dead-letters replay ${plugin}"`)
}
