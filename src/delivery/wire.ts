import type { WireEvent } from '../hosts/worker-host.js'
import type { Pending } from './queue.js'

/**
 * A batch as it travels: only what the worker reads (the queue's bookkeeping stays home, so it
 * is neither cloned nor exposed). Counts the attempt of each event.
 */
export function toWire(batch: Pending[]): WireEvent[] {
  const wire: WireEvent[] = new Array(batch.length)
  for (let i = 0; i < batch.length; i++) {
    const p = batch[i]
    p.attempts++
    wire[i] = { seq: p.seq, event: p.event, subscription: p.subscription, payload: p.payload }
  }
  return wire
}
