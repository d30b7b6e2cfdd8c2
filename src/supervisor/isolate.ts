import type { ServiceSlots } from '../services/slots.js'
import type { Culprit } from '../supervision/blame.js'
import { CorePlugin } from './core-plugin.js'
import type { PluginHandle } from './plugin-handle.js'
import type { IsolateOutcome } from './types.js'

/**
 * The host error policy's isolation (src/supervision/host-errors.ts): an error escaped from work
 * `who` started. A core plugin of this supervisor (`owner`) is failed and taken off the bus
 * (`offBus`: hooks, pipes; its routes and functions answer no more) and the error counted in its
 * status: 'isolated' the first time, 'again' for later errors of a plugin already failed.
 * 'foreign' when the plugin belongs to another supervisor in this process (whose own handler acts
 * on it), 'slot' when it provides a service slot the host cannot run on without. The caller logs.
 */
export function isolateCore(
  owner: unknown,
  byName: ReadonlyMap<string, PluginHandle>,
  slots: ServiceSlots,
  offBus: (h: PluginHandle) => void,
  who: Culprit,
  error: unknown,
): IsolateOutcome {
  const h = who.owner === owner ? byName.get(who.plugin) : undefined
  if (!(h instanceof CorePlugin)) return 'foreign'
  if (Object.values(slots.providers).includes(h.name)) return 'slot'
  if (!h.escaped(error)) return 'again'
  offBus(h)
  return 'isolated'
}
