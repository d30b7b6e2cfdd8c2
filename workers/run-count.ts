import { performance } from 'node:perf_hooks'

/**
 * Tells the host whether a batch found the instance waiting for work (`RanMsg.waited`). The host
 * widens its window on that signal: an instance that waits while events are queued for it had
 * too little in flight.
 *
 * Why not just "no batch was running when this one arrived": a transport hands queued messages
 * over one by one, and a batch of synchronous hooks runs to its end between two of them, so the
 * runtime looks idle at every arrival. What tells a real wait is the event loop: between two
 * messages already queued it never blocks; a batch that was not there yet makes it block
 * (idle time in `eventLoopUtilization`).
 */
export class RunCount {
  private n = 0
  private idleAtDone = 0

  /** A batch arrived; true when none was running or waiting, and the loop sat idle since the last one. */
  arrived(): boolean {
    if (this.n++ !== 0) return false
    return performance.eventLoopUtilization().idle - this.idleAtDone > IDLE_MS
  }

  done(): void {
    if (--this.n === 0) this.idleAtDone = performance.eventLoopUtilization().idle
  }
}

/** Idle time below this is the loop's own bookkeeping, not a wait. */
const IDLE_MS = 0.02
