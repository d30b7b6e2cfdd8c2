import type { MemoryFigures, WorkerInstance } from '../hosts/worker-host.js'
import type { InstanceState, InstanceStatus } from '../supervisor/status-types.js'

/** Instance `id` across its respawns. */
export interface InstanceLife {
  id: number
  instance?: WorkerInstance
  state: InstanceState
  startedAt: number
  restarts: number
  /**
   * Set when we asked the instance to go (stop, recycle) or to hand over to newer code (reload,
   * see instance-roll.ts): not a crash.
   */
  expected?: 'stop' | 'recycle' | 'reload'
  /** A reload waits on this: called once the instance holds no batches, or is gone. */
  drained?: () => void
  unwatch?: () => void
  timer?: NodeJS.Timeout
  /** A start under way: `close` waits for it, or the new instance would outlive the stop. */
  spawning?: Promise<void>
  beat?: MemoryFigures & { eventLoopP99Ms: number; at: number }
}

/** Its row in the status report. */
export function instanceStatus(l: InstanceLife, now: number): InstanceStatus {
  return {
    id: l.id,
    pid: l.instance?.pid ?? 0,
    threadId: l.instance?.threadId ?? 0,
    state: l.state,
    uptimeMs: l.instance ? now - l.startedAt : 0,
    restarts: l.restarts,
    memoryMb: l.beat?.memoryMb ?? 0,
    heapMb: l.beat?.heapMb ?? 0,
    externalMb: l.beat?.externalMb ?? 0,
    eventLoopP99Ms: l.beat?.eventLoopP99Ms ?? 0,
    lastHeartbeatMs: l.beat ? now - l.beat.at : 0,
  }
}

export function roundFigures(m: MemoryFigures): MemoryFigures {
  const r = (mb: number): number => Math.round(mb * 10) / 10
  return { memoryMb: r(m.memoryMb), heapMb: r(m.heapMb), externalMb: r(m.externalMb) }
}
