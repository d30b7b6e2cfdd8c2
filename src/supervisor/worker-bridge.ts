import type { DeadLetters } from '../delivery/dead-letters.js'
import type { HostBridge } from '../hosts/worker-host.js'
import { pluginState } from '../state/plugin-state.js'
import type { SupervisorRuntime } from './plugin-handle.js'

/**
 * What a worker plugin's instances call back through: its state, emit, call and the host's log.
 * One bridge per instance: its emits feed one `Feeder`, so `ctx.drained()` waits for what this
 * instance fed.
 */
export function workerBridge(rt: SupervisorRuntime, plugin: string, deadLetters?: DeadLetters): HostBridge {
  // No child logger: the instance already stamps plugin and instance on every line, and pino
  // would write both keys twice.
  const log = rt.log
  const feed = rt.pressure.feeder()
  return {
    state: pluginState(rt.store, plugin),
    emit: (event, payload) => rt.emit(event, payload),
    emitBatch: (events) => {
      for (let i = 0; i < events.length; i += 2) {
        const event = events[i] as string
        rt.emit(event, events[i + 1])
        feed.emitted(event)
      }
      return feed.room()
    },
    drained: () => feed.drained(),
    deadLetter: async (event, payload, error) => {
      await deadLetters?.add({ event, subscription: event, payload, attempts: 0, error })
    },
    call: (target, args) => rt.call(target, args),
    append: (type, args) => (rt.coordination ? rt.coordination.propose(plugin, type, args) : Promise.reject(new Error('no coordination log'))),
    log: (level, obj, msg) => {
      const fn = (log as unknown as Record<string, (o: unknown, m?: string) => void>)[level]
      ;(typeof fn === 'function' ? fn : log.info).call(log, obj, msg)
    },
  }
}
