/**
 * Puts a batch into its wire form (`WireBatch` in worker-protocol.ts): payloads by column, the
 * event names and subscriptions sent once per batch. The worker side reads it back in
 * `workers/batch-codec.ts`.
 */
import type { WireBatch, WireEvent } from '../worker-protocol.js'

export function encodeBatch(batch: readonly WireEvent[]): WireBatch {
  const n = batch.length
  const payloads: unknown[] = new Array(n)
  const refs: number[] = new Array(2 * n)
  const names: string[] = []
  const index = new Map<string, number>()
  const ref = (name: string): number => {
    let k = index.get(name)
    if (k === undefined) {
      k = names.length
      names.push(name)
      index.set(name, k)
    }
    return k
  }
  // Most batches carry one event name and one subscription: skip the map while they repeat.
  let event = ''
  let eventRef = -1
  let sub = ''
  let subRef = -1
  for (let i = 0; i < n; i++) {
    const e = batch[i]
    payloads[i] = e.payload
    if (e.event !== event || eventRef < 0) eventRef = ref((event = e.event))
    if (e.subscription !== sub || subRef < 0) subRef = ref((sub = e.subscription))
    refs[2 * i] = eventRef
    refs[2 * i + 1] = subRef
  }
  return { names, refs, payloads }
}
