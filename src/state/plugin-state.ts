import type { StateApi } from '../plugin/types.js'
import type { StateStore } from '../plugin/state-store.js'

/** `ctx.state` for one plugin: the store, scoped to the plugin's namespace. */
export function pluginState(store: StateStore, plugin: string): StateApi {
  const ns = `plugin:${plugin}`
  return {
    putState: (key, value) => store.put(ns, key, value),
    getState: (key) => store.get(ns, key) as Promise<any>,
    deleteState: (key) => store.delete(ns, key),
    incrCounter: (key, amount = 1) => store.incr(ns, key, amount),
    getCounter: (key) => store.getCounter(ns, key),
  }
}
