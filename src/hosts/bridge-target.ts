import type { BridgeMethod } from '../worker-protocol.js'
import type { HostBridge, InstanceSpec } from './worker-host.js'

/** The host services served to the worker (`BridgeMethod`); log lines get the plugin and instance stamped on. */
export function bridgeTarget(spec: InstanceSpec): Record<BridgeMethod, (...args: any[]) => unknown> {
  const bridge: HostBridge = spec.bridge
  const stamp = { plugin: spec.plugin, instance: spec.instanceId }
  return {
    emit: (event: string, payload: unknown) => bridge.emit(event, payload),
    // A bridge without them (a bare test host) takes batches as single emits and never pushes back.
    emitBatch: (events: unknown[]) => (bridge.emitBatch ? bridge.emitBatch(events) : emitEach(bridge, events)),
    drained: () => bridge.drained?.() ?? Number.MAX_SAFE_INTEGER,
    deadLetter: (event: string, payload: unknown, reason: { code: string | null; message: string }) => bridge.deadLetter?.(event, payload, reason),
    call: (target: string, args: unknown) => bridge.call(target, args),
    append: (type: string, args: unknown) => (bridge.append ? bridge.append(type, args) : Promise.reject(new Error('this host keeps no coordination log'))),
    log: (level: string, obj: unknown, msg?: string) => {
      const fields = obj !== null && typeof obj === 'object' && !(obj instanceof Error) ? obj : obj === undefined ? {} : { err: obj }
      bridge.log(level, { ...fields, ...stamp }, msg)
    },
  }
}

function emitEach(bridge: HostBridge, events: unknown[]): number {
  for (let i = 0; i < events.length; i += 2) bridge.emit(events[i] as string, events[i + 1])
  return Number.MAX_SAFE_INTEGER
}
