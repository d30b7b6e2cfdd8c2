import type { WireEvent } from '../hosts/worker-host.js'
import type { Pending } from './queue.js'

/**
 * A batch as the instance takes it, counting the attempt of each event. No copy: an adapter
 * reads only the wire fields (it puts the payloads and names into its own wire form), so the
 * queue's bookkeeping is never cloned, and a copy per event would be garbage on every send.
 */
export function toWire(batch: Pending[]): WireEvent[] {
  for (let i = 0; i < batch.length; i++) batch[i].attempts++
  return batch
}
