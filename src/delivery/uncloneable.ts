import { OutriggerError } from '../errors.js'
import type { Pending } from './queue.js'

/**
 * A batch an instance refused because a payload could not be structured-cloned: isolates the bad
 * payloads (Kuzzle's thread crashed on a whole batch); the rest go again, and this sending did
 * not count as an attempt for them. Returns the good events; `rejected` gets each bad one.
 */
export function isolateUncloneable(batch: Pending[], rejected: (p: Pending, error: OutriggerError) => void): Pending[] {
  const good: Pending[] = []
  for (const p of batch) {
    if (isCloneable(p.payload)) {
      p.attempts--
      good.push(p)
    } else {
      rejected(p, new OutriggerError('RIG_ERR_NOT_CLONEABLE', `event "${p.event}": its payload cannot be structured-cloned to a worker (functions, symbols, class instances with private state…); send plain data`))
    }
  }
  return good
}

function isCloneable(v: unknown): boolean {
  try {
    structuredClone(v)
    return true
  } catch {
    return false
  }
}
