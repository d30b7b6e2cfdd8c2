import path from 'node:path'
import { OutriggerError } from '../errors.js'
import type { PluginContext, PluginDefinition, PluginFactory } from '../plugin/types.js'
import { mergeWorker } from '../manifest/load.js'
import type { Discovered } from '../manifest/discovery.js'
import { checkOptions, importEntry } from './definition.js'
import type { HostConfig } from '../config/config.js'

/** A discovered plugin after its code (core) or settings (worker) are loaded. */
export type Loaded =
  | { kind: 'core'; found: Discovered; def: PluginDefinition; options: unknown; ctx?: PluginContext }
  /** A core factory entry, not called yet: the supervisor calls it once, with the plugin's ctx. */
  | { kind: 'core-factory'; found: Discovered; factory: PluginFactory; options: unknown }
  | { kind: 'worker'; found: Discovered; options: unknown }
  | { kind: 'failed'; found: Discovered; error: unknown }

/**
 * Imports core plugins and checks their options; merges the operator's overrides into worker
 * settings. Worker plugin code is never imported here: it only ever runs inside a worker.
 */
export async function loadPlugins(found: Discovered[], config: HostConfig): Promise<Loaded[]> {
  const out: Loaded[] = []
  for (const d of found) {
    if (d.error || !d.manifest) {
      out.push({ kind: 'failed', found: d, error: d.error })
      continue
    }
    const own = config.plugins[d.manifest.name]
    try {
      if (d.manifest.type === 'worker') {
        if (d.manifest.worker) d.manifest.worker = mergeWorker(d.manifest.worker, own?.worker, `config: plugins.${d.manifest.name}.worker`)
        out.push({ kind: 'worker', found: d, options: own?.options ?? {} })
        continue
      }
      if (own?.worker) throw new OutriggerError('RIG_ERR_CONFIG_INVALID', `config: plugins.${d.manifest.name}.worker: "${d.manifest.name}" is a core plugin; worker overrides only apply to "type": "worker"`)
      const def = await importEntry(entryOf(d), 'core', d.manifest.name)
      // A factory's options schema is known only once it has run: the supervisor checks them then.
      if (typeof def === 'function') {
        out.push({ kind: 'core-factory', found: d, factory: def, options: own?.options })
        continue
      }
      out.push({ kind: 'core', found: d, def, options: checkOptions(def, own?.options, d.manifest.name) })
    } catch (err) {
      out.push({ kind: 'failed', found: d, error: err })
    }
  }
  return out
}

export const entryOf = (d: Discovered) => path.resolve(d.dir, d.manifest!.main)
