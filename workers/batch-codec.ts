/**
 * Reads a batch's wire form (`WireBatch`, written by `src/hosts/batch-codec.ts`) back into one
 * `WireEvent` per event; `seq` is the event's position in the batch.
 */
import type { WireBatch, WireEvent } from '../src/worker-protocol.js'

export function decodeBatch({ names, refs, payloads }: WireBatch): WireEvent[] {
  const n = payloads.length
  const out: WireEvent[] = new Array(n)
  for (let i = 0; i < n; i++) out[i] = { seq: i, event: names[refs[2 * i]], subscription: names[refs[2 * i + 1]], payload: payloads[i] }
  return out
}
