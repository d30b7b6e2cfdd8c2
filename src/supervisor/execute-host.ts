import type { Bus } from '../bus/bus.js'
import type { ExecuteHost } from '../protocol/execute.js'
import type { PluginLogger } from '../plugin/types.js'
import type { ServiceSlots } from '../services/slots.js'
import { CorePlugin } from './core-plugin.js'
import type { PluginHandle } from './plugin-handle.js'

/**
 * What the request path (src/protocol/execute.ts) sees of the supervisor. Looked up per request,
 * so a plugin that failed (or was replaced) since answers no action.
 */
export function executeHost(opts: {
  slots: ServiceSlots
  log: PluginLogger
  actionTimeoutMs: number
  bus: Bus
  pipe: <T>(event: string, payload: T) => Promise<T>
  byName: Map<string, PluginHandle>
}): ExecuteHost {
  const { slots, bus, byName } = opts
  return {
    services: slots,
    log: opts.log,
    actionTimeoutMs: opts.actionTimeoutMs,
    pipe: opts.pipe,
    hook: (event, payload) => bus.emit(event, payload),
    action(plugin, controller, action) {
      const h = byName.get(plugin)
      if (!(h instanceof CorePlugin)) return undefined
      const fn = h.action(controller, action)
      return fn && ((request) => h.runAction(fn, request))
    },
  }
}
