/**
 * The raw baseline's worker thread: runs a no-op per event of each batch and acks the batch
 * with one small message, as little as a transport-only consumer can do.
 */
import { parentPort } from 'node:worker_threads'

interface RawEvent { seq: number; event: string; subscription: string; payload: unknown }

let sink = 0
const noop = (p: unknown): void => void (p !== null && sink++)

parentPort!.on('message', (batch: RawEvent[]) => {
  for (let i = 0; i < batch.length; i++) noop(batch[i].payload)
  parentPort!.postMessage(batch.length)
})
