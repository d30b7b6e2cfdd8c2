import type { HostBridge } from '../hosts/worker-host.js'
import { pluginState } from '../state/plugin-state.js'
import type { SupervisorRuntime } from './plugin-handle.js'

/** What a worker plugin's instances call back through: its state, emit, call and the host's log. */
export function workerBridge(rt: SupervisorRuntime, plugin: string): HostBridge {
  // No child logger: the instance already stamps plugin and instance on every line, and pino
  // would write both keys twice.
  const log = rt.log
  return {
    state: pluginState(rt.store, plugin),
    emit: (event, payload) => rt.emit(event, payload),
    call: (target, args) => rt.call(target, args),
    append: (type, args) => (rt.coordination ? rt.coordination.propose(plugin, type, args) : Promise.reject(new Error('no coordination log'))),
    log: (level, obj, msg) => {
      const fn = (log as unknown as Record<string, (o: unknown, m?: string) => void>)[level]
      ;(typeof fn === 'function' ? fn : log.info).call(log, obj, msg)
    },
  }
}
