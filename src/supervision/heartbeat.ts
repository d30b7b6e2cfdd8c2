import type { Heartbeat, WorkerInstance } from '../hosts/worker-host.js'

export interface HeartbeatHandlers {
  beat(h: Heartbeat): void
  /** No answer within `unresponsiveMs`: the instance is stuck (an endless loop, a blocked thread). */
  silent(): void
}

/**
 * Pings one instance every third of `unresponsiveMs`. Only one ping is outstanding at a time, so
 * a stuck instance costs one timer, not a pile of pending promises.
 */
export function watchHeartbeat(instance: WorkerInstance, unresponsiveMs: number, on: HeartbeatHandlers): () => void {
  let waiting = false
  let stopped = false
  const timer = setInterval(() => {
    if (waiting || stopped) return
    waiting = true
    instance.ping(unresponsiveMs).then(
      (h) => {
        waiting = false
        if (!stopped) on.beat(h)
      },
      () => {
        waiting = false
        if (!stopped) on.silent()
      },
    )
  }, Math.max(20, Math.floor(unresponsiveMs / 3)))
  timer.unref()
  return () => {
    stopped = true
    clearInterval(timer)
  }
}
