import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { DeadLetters } from '../delivery/dead-letters.js'
import { errorCode, errorMessage } from '../errors.js'
import type { PluginContext, StateApi } from '../plugin/types.js'
import { pluginState } from '../state/plugin-state.js'
import { outside } from '../supervision/blame.js'
import type { SupervisorRuntime } from './plugin-handle.js'
import { noCoordination } from './coordination-wiring.js'

/** The `ctx` of a core plugin (worker plugins get the same shape, built in the worker). */
export function coreContext(rt: SupervisorRuntime, name: string, version: string, rootPath: string, options: unknown): PluginContext {
  const feed = rt.pressure.feeder()
  let letters: DeadLetters | undefined
  return {
    name,
    version,
    options,
    log: rt.log.child({ plugin: name }),
    state: rt.blame ? neutralState(pluginState(rt.store, name)) : pluginState(rt.store, name),
    emit: (event, payload) => {
      rt.emit(event, payload)
      return feed.emitted(event)
    },
    drained: async () => void (await feed.drained()),
    deadLetter: (event, payload, reason) => (letters ??= new DeadLetters(rt.store, name)).add(deadLetterOf(event, payload, reason)),
    instance: Object.freeze({ id: 0, count: 1 }),
    call: (target, args) => rt.call(target, args) as Promise<any>,
    execute: (request) => rt.execute(request),
    rootPath,
    dataDir: pluginDataDir(rt.stateDir, name),
    signal: rt.signal,
    coordination: rt.coordination?.core(name) ?? noCoordination(name),
  }
}

/**
 * The store's own work (write batches, commit timers) runs outside the plugin that asked, and the
 * promise the plugin gets is made in its own context (src/supervision/blame.ts).
 */
function neutralState(s: StateApi): StateApi {
  return {
    putState: async (key, value) => outside(() => s.putState(key, value)),
    getState: async (key) => outside(() => s.getState(key)),
    deleteState: async (key) => outside(() => s.deleteState(key)),
    incrCounter: async (key, amount) => outside(() => s.incrCounter(key, amount)),
    getCounter: async (key) => outside(() => s.getCounter(key)),
  } as StateApi
}

/** `<stateDir>/data/<plugin>`, created on first use. */
export function pluginDataDir(stateDir: string, name: string): string {
  const dir = path.join(stateDir, 'data', name)
  mkdirSync(dir, { recursive: true })
  return dir
}

/** What `ctx.deadLetter` stores: the record as it came, and why it could not be handled. */
export function deadLetterOf(event: string, payload: unknown, reason: string | Error) {
  const error = typeof reason === 'string' ? { code: null, message: reason } : { code: errorCode(reason), message: errorMessage(reason) }
  return { event, subscription: event, payload, attempts: 0, error }
}
