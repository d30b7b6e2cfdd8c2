/**
 * The piscina peer's task: a no-op per event, one event or a batch of events per task, as a
 * transport-only consumer (the same work as the raw baselines' consumers).
 */
let sink = 0
const noop = (p: unknown): void => void (p !== null && sink++)

export default function task(input: { events: unknown[] } | unknown): number {
  if (input !== null && typeof input === 'object' && Array.isArray((input as { events?: unknown }).events)) {
    const events = (input as { events: unknown[] }).events
    for (let i = 0; i < events.length; i++) noop(events[i])
    return events.length
  }
  noop(input)
  return 1
}
