/**
 * The raw baseline's child process (forked with `serialization: 'advanced'`): a no-op per event
 * of each batch, one small ack per batch.
 */
interface RawEvent { seq: number; event: string; subscription: string; payload: unknown }

let sink = 0
const noop = (p: unknown): void => void (p !== null && sink++)

process.on('message', (batch: RawEvent[]) => {
  for (let i = 0; i < batch.length; i++) noop(batch[i].payload)
  process.send!(batch.length)
})
process.on('disconnect', () => process.exit(0))
