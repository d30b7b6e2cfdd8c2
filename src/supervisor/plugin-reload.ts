import type { HostConfig } from '../config/config.js'
import { loadConfig } from '../config/config.js'
import { OutriggerError } from '../errors.js'
import { discover, inspect, type Discovered } from '../manifest/discovery.js'
import { loadPlugins, type Loaded } from '../plugin/load-plugins.js'
import type { FailedPlugin } from './failed-plugin.js'
import type { PluginHandle, SupervisorRuntime } from './plugin-handle.js'
import { reloadFailure, reloadRefused } from './worker-reload.js'

/**
 * A core plugin runs in the host's event loop, and its module (with whatever it set up at import
 * time) stays in the host's module cache: importing it again would run a second copy beside the
 * first, and its pipes would move to the end of every chain. Only restarting the host is sound,
 * unless the plugin promises (`"reloadable": true`) that its `close` leaves nothing behind.
 */
export function notRestartable(name: string, app: string): OutriggerError {
  return new OutriggerError(
    'RIG_ERR_NOT_RESTARTABLE',
    `plugin "${name}" is a core plugin: it runs in the host's event loop and its module stays in the host's module cache, so it cannot be stopped and loaded again on its own; fix it, then restart the host (under pm2: pm2 restart ${app}), or, if its close leaves nothing behind, set "reloadable": true in its manifest.json (applies from the next host start)`,
    { details: { plugin: name } },
  )
}

/** What a reload, a live start or a live stop needs from the supervisor. */
export interface ReloadDeps {
  app: string
  config: HostConfig
  rt: SupervisorRuntime
  /** The plugins folder and the config file the supervisor was started from (read again). */
  pluginsDir: string | undefined
  configFile: string | undefined
  /** The plugin that provides each replaced service slot: those are chosen once, at start. */
  providers: Partial<Record<string, string>>
  get(name: string): PluginHandle | undefined
  handleFor(l: Loaded): PluginHandle
  /** A core factory entry, called once with the plugin's ctx. */
  fromFactory(l: Loaded): Promise<Loaded>
  add(h: PluginHandle, l: Loaded): void
  replace(old: PluginHandle, h: PluginHandle, l?: Loaded): void
  remove(h: PluginHandle): void
  offBus(h: PluginHandle): void
  failed(h: PluginHandle, err: unknown): void
  /** The handler-time sink of `observeHandlers`, if one is set. */
  handlerSink(): ((plugin: string, ms: number) => void) | undefined
}

/** Reads a plugin that failed to load from disk again and, if it is a worker plugin now, starts it. */
export async function reloadFailed(old: FailedPlugin, d: ReloadDeps): Promise<void> {
  if (!old.found) throw notRestartable(old.name, d.app)
  const found = await inspect(old.found.dir, old.found.folder, old.found.outside)
  found.shadowed = old.found.shadowed
  if (found.manifest?.type === 'core') throw notRestartable(old.name, d.app)
  const [loaded] = await loadPlugins([found], d.config)
  const h = d.handleFor(loaded)
  d.replace(old, h, loaded)
  if (loaded.kind === 'failed') throw loaded.error
  await startHandle(h, d)
}

/** Points the handler-time sink at `h`, then starts it (init or instances) and runs its whenReady. */
export async function startHandle(h: PluginHandle, d: ReloadDeps, ready = false): Promise<void> {
  const sink = d.handlerSink()
  if (h.latency && sink) h.latency.sink = (ms) => sink(h.name, ms)
  try {
    await h.start()
    if (ready) await h.ready()
  } catch (err) {
    d.failed(h, err)
    throw err
  }
}

/**
 * Finds `name` in the plugins folder again (the newest `name@version` wins, as at start) and
 * loads it with its config section read again from the config file. A core entry is imported
 * under a fresh URL (`fresh`), so its module is not the cached one.
 */
export async function readAgain(name: string, d: ReloadDeps): Promise<{ found: Discovered; config: HostConfig }> {
  if (!d.pluginsDir) throw reloadRefused(name, 'this supervisor was not started from a plugins folder')
  const { plugins } = await discover(d.pluginsDir)
  const found = plugins.find((p) => p.name === name)
  if (!found) {
    throw new OutriggerError('RIG_ERR_UNKNOWN_PLUGIN', `plugin "${name}" is not in the plugins folder ${d.pluginsDir} (enable it first: outrigger plugins enable ${name})`, { details: { plugin: name } })
  }
  // A newer `name@version` folder that is broken must not let the reload quietly take the older one.
  const newer = found.broken?.find((b) => b.newer)
  if (newer) throw reloadFailure(name, new OutriggerError(newer.error.code as 'RIG_ERR_MANIFEST_INVALID', `the newer folder ${newer.folder} is broken: ${newer.error.message}`))
  let config = d.config
  if (d.configFile) {
    const section = (await loadConfig(d.configFile)).config.plugins[name]
    config = { ...d.config, plugins: { ...d.config.plugins, [name]: section } }
    if (section === undefined) delete config.plugins[name]
  }
  return { found, config }
}

/** Takes the new section of `name` into the running config, once a reload or a start used it. */
export function keepSection(d: ReloadDeps, name: string, config: HostConfig): void {
  if (config === d.config) return
  if (config.plugins[name] === undefined) delete d.config.plugins[name]
  else d.config.plugins[name] = config.plugins[name]
}

/** Refuses a live change to a plugin that provides a service slot: slots are chosen once, at start. */
export function refuseSlotProvider(name: string, d: ReloadDeps, what: string): void {
  const slots = Object.entries(d.providers).filter(([, p]) => p === name).map(([s]) => s)
  if (slots.length) throw reloadRefused(name, `it provides the ${slots.join(', ')} service slot(s), which are chosen once at start, so it cannot be ${what} live; restart the host`)
}
