import { mkdirSync } from 'node:fs'
import path from 'node:path'
import type { PluginContext } from '../plugin/types.js'
import { pluginState } from '../state/plugin-state.js'
import type { SupervisorRuntime } from './plugin-handle.js'

/** The `ctx` of a core plugin (worker plugins get the same shape, built in the worker). */
export function coreContext(rt: SupervisorRuntime, name: string, version: string, rootPath: string, options: unknown): PluginContext {
  return {
    name,
    version,
    options,
    log: rt.log.child({ plugin: name }),
    state: pluginState(rt.store, name),
    emit: (event, payload) => rt.emit(event, payload),
    call: (target, args) => rt.call(target, args) as Promise<any>,
    rootPath,
    dataDir: pluginDataDir(rt.stateDir, name),
    signal: rt.signal,
  }
}

/** `<stateDir>/data/<plugin>`, created on first use. */
export function pluginDataDir(stateDir: string, name: string): string {
  const dir = path.join(stateDir, 'data', name)
  mkdirSync(dir, { recursive: true })
  return dir
}
