import type { HostConfig } from '../config/config.js'
import { OutriggerError, errorMessage, isOutriggerError } from '../errors.js'
import type { Discovered } from '../manifest/discovery.js'
import { checkOptions, importEntry } from '../plugin/definition.js'
import { entryOf, type Loaded } from '../plugin/load-plugins.js'
import type { CorePlugin } from './core-plugin.js'
import { keepSection, notRestartable, readAgain, refuseSlotProvider, startHandle, type ReloadDeps } from './plugin-reload.js'
import { reloadFailure, reloadRefused } from './worker-reload.js'

/** Each reload imports the entry under a URL of its own (`?reload=N`): a new URL is a new module. */
let imports = 0

/**
 * Reloads a core plugin whose manifest says `"reloadable": true`: the new entry is imported (under
 * a fresh URL) and checked first, so a new version that does not load leaves the old one
 * running; then the old one is taken off the bus, its hooks in flight settle, it is closed, and
 * the new one is registered, initialised and readied. The old module stays in memory: an ES
 * module graph cannot unload it (docs/reload.md).
 */
export async function reloadCore(old: CorePlugin, d: ReloadDeps): Promise<{ from: string; to: string }> {
  if (!old.manifest.reloadable) throw notRestartable(old.name, d.app)
  refuseSlotProvider(old.name, d, 'reloaded')
  const { found, config } = await readAgain(old.name, d)
  if (found.error || !found.manifest) throw reloadFailure(old.name, found.error, 'the old code keeps running')
  if (found.manifest.type !== 'core') throw reloadRefused(old.name, 'it changed from core to worker; restart the host to apply that')
  let loaded: Loaded
  try {
    loaded = await importCore(found, config)
  } catch (err) {
    throw isOutriggerError(err, 'RIG_ERR_RELOAD_REFUSED') ? err : reloadFailure(old.name, err, 'the old code keeps running')
  }
  await retire(old, d)
  const next = loaded.kind === 'core-factory' ? await d.fromFactory(loaded) : loaded
  const h = d.handleFor(next)
  d.replace(old, h, next)
  keepSection(d, old.name, config)
  if (next.kind === 'failed') {
    d.failed(h, next.error)
    throw next.error
  }
  await startHandle(h, d, true)
  return { from: old.manifest.version, to: found.manifest.version }
}

/**
 * Imports a core plugin's entry under a URL of its own, so its module runs again rather than
 * coming from the cache, and checks it and its options. Throws what is wrong.
 */
export async function importCore(found: Discovered, config: HostConfig): Promise<Loaded> {
  const name = found.manifest!.name
  const own = config.plugins[name]
  if (own?.worker) throw new OutriggerError('RIG_ERR_CONFIG_INVALID', `config: plugins.${name}.worker: "${name}" is a core plugin; worker overrides only apply to "type": "worker"`)
  const def = await importEntry(entryOf(found), 'core', name, String(++imports))
  if (typeof def === 'function') return { kind: 'core-factory', found, factory: def, options: own?.options }
  if (def.provides && Object.keys(def.provides).length) throw reloadRefused(name, 'it provides service slots, which are chosen once at start; restart the host')
  return { kind: 'core', found, def, options: checkOptions(def, own?.options, name) }
}

/**
 * Takes a core plugin off the bus, waits (up to `timeouts.drainMs`) for the hooks it is running,
 * then closes it. Its hooks run in this event loop and report only by counters, so the wait
 * looks at them between short timers.
 */
export async function retire(old: CorePlugin, d: ReloadDeps): Promise<void> {
  d.offBus(old)
  const end = Date.now() + d.config.timeouts.drainMs
  while (old.status().events.inFlight > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 5))
  await old.close().catch((err) => d.rt.log.error({ plugin: old.name, err }, `close of "${old.name}" failed: ${errorMessage(err)}`))
}
