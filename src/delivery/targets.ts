import type { WorkerInstance } from '../hosts/worker-host.js'
import { DEFAULT_CAPS, FlightWindow, capsFor } from './flight-window.js'
import type { Pending } from './queue.js'

/**
 * Batches an instance may hold at once when it starts: enough to keep it busy while the next one
 * travels. Its window grows from there when it waits for work (flight-window.ts).
 */
export const INFLIGHT_BATCHES = DEFAULT_CAPS.minBatches

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
  /** How much it may hold unanswered; each new instance starts from the floor. */
  window: FlightWindow
  /**
   * Batches sent while others were still out. Only their waits say the window was too small: a
   * batch sent to an instance with nothing out (its first, or the first after a quiet spell)
   * always finds it idle, whatever the window.
   */
  piped: WeakSet<Pending[]>
}

/** Instance id `id` of a plugin held to `memoryMb` (its window's caps follow from it: `capsFor`). */
export function newTarget(id: number, memoryMb?: number): Target {
  const caps = memoryMb === undefined ? DEFAULT_CAPS : capsFor(memoryMb)
  return { id, instance: undefined, accepting: false, batches: [], load: 0, failuresSeen: 0, window: new FlightWindow(caps), piped: new WeakSet() }
}

export function hasRoom(t: Target): boolean {
  return t.instance !== undefined && t.accepting && t.window.hasRoom(t.load, t.batches.length)
}

/**
 * How many events the next batch to `t` may take: what its window has left, at least one. `head`,
 * the event first in line, is weighed now and then, so large events shrink the window in bytes.
 */
export function batchRoom(t: Target, head: unknown): number {
  t.window.weigh(head)
  return Math.max(1, t.window.limit - t.load)
}

/** `instance` now serves `t`, from a clean slate. */
export function serve(t: Target, instance: WorkerInstance): void {
  t.instance = instance
  t.accepting = true
  t.failuresSeen = 0
  t.window = new FlightWindow(t.window.caps)
}

/** `batch` goes out to `t`. */
export function sending(t: Target, batch: Pending[]): void {
  if (t.batches.length > 0) t.piped.add(batch)
  t.batches.push(batch)
  t.load += batch.length
}

/** `batch` was answered (already taken off `t`): `waited`, the instance sat idle for it; `backlog`, events are queued for `t`. */
export function answered(t: Target, batch: Pending[], waited: boolean, backlog: boolean): void {
  t.window.answered(waited && t.piped.has(batch), backlog)
}
