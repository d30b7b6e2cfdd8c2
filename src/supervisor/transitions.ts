import type { PluginState, PluginStatus } from './status-types.js'
import type { SupervisorRuntime } from './plugin-handle.js'

/** A worker plugin's every transition is logged and published as `outrigger:plugin:<state>`. */
export function published(rt: SupervisorRuntime, name: string, lastError: PluginStatus['lastError'], next: PluginState, prev: PluginState): void {
  // The supervisor logs a failure itself, once, with its cause: the move to failed says nothing more.
  if (next !== 'failed') {
    const level = next === 'running' || next === 'starting' || next === 'stopped' ? 'info' : 'warn'
    rt.log[level]({ plugin: name, from: prev, to: next, lastError }, `plugin "${name}": ${prev} → ${next}`)
  }
  rt.bus.emit(`outrigger:plugin:${next}`, { plugin: name, from: prev, lastError })
}
