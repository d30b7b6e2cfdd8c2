import type { WorkerInstance } from '../hosts/worker-host.js'
import type { Pending } from './queue.js'

/** Batches an instance may hold at once: enough to keep it busy while the next one travels. */
export const INFLIGHT_BATCHES = 4

/** One instance id as the dispatcher sees it: the instance behind it now, and what it holds. */
export interface Target {
  id: number
  instance: WorkerInstance | undefined
  /** False while its instance is being retired or is gone: it finishes what it has, takes nothing new. */
  accepting: boolean
  /** Batches sent and not yet answered, in send order. */
  batches: Pending[][]
  load: number
  /** Failed events of its current instance taken in so far (`RunMsg.seen`). */
  failuresSeen: number
}

export function newTarget(id: number): Target {
  return { id, instance: undefined, accepting: false, batches: [], load: 0, failuresSeen: 0 }
}

export function hasRoom(t: Target): boolean {
  return t.instance !== undefined && t.accepting && t.batches.length < INFLIGHT_BATCHES
}
