import type { Loaded } from '../plugin/load-plugins.js'
import { coreFromFactory } from './core-factory.js'
import type { PluginHandle } from './plugin-handle.js'
import type { ReloadDeps } from './plugin-reload.js'

/** The supervisor's own lists, which a live change edits in place. */
export interface LiveParts extends Omit<ReloadDeps, 'get' | 'fromFactory' | 'add' | 'replace' | 'remove'> {
  handles: PluginHandle[]
  byName: Map<string, PluginHandle>
  /** What was loaded at start (and since): `pluginFolder` answers from it. */
  loaded: Loaded[]
}

/**
 * What a reload, a live start or a live stop may do to the supervisor: add, replace or remove a
 * handle, keeping its three lists (in boot order, by name, as loaded) in step.
 */
export function liveDeps(p: LiveParts): ReloadDeps {
  const { handles, byName, loaded } = p
  const swap = (old: PluginHandle | undefined, h: PluginHandle | undefined, l?: Loaded): void => {
    // A replacement keeps its place: shutdown closes in reverse boot order.
    if (old) handles.splice(handles.indexOf(old), 1, ...(h ? [h] : []))
    else if (h) handles.push(h)
    if (old && byName.get(old.name) === old) byName.delete(old.name)
    if (h) byName.set(h.name, h)
    const i = loaded.findIndex((x) => x.found.name === (h ?? old)!.name)
    if (l) loaded.splice(i < 0 ? loaded.length : i, i < 0 ? 0 : 1, l)
    else if (!h && i >= 0) loaded.splice(i, 1)
  }
  return {
    ...p,
    get: (name) => byName.get(name),
    fromFactory: (l) => (l.kind === 'core-factory' ? coreFromFactory(p.rt, l) : Promise.resolve(l)),
    add: (h, l) => swap(undefined, h, l),
    replace: (old, h, l) => swap(old, h, l),
    remove: (h) => swap(h, undefined),
  }
}
