import type { HostConfig } from '../config/config.js'
import { OutriggerError } from '../errors.js'
import { inspect } from '../manifest/discovery.js'
import { loadPlugins, type Loaded } from '../plugin/load-plugins.js'
import type { FailedPlugin } from './failed-plugin.js'
import type { PluginHandle } from './plugin-handle.js'

/**
 * A core plugin runs in the host's event loop, and its module (with whatever it set up at import
 * time) stays in the host's module cache: importing it again would run a second copy beside the
 * first, and its pipes would move to the end of every chain. Only restarting the host is sound.
 */
export function notRestartable(name: string, app: string): OutriggerError {
  return new OutriggerError(
    'RIG_ERR_NOT_RESTARTABLE',
    `plugin "${name}" is a core plugin: it runs in the host's event loop and its module stays in the host's module cache, so it cannot be stopped and loaded again on its own; fix it, then restart the host (under pm2: pm2 restart ${app})`,
    { details: { plugin: name } },
  )
}

/** What a reload needs from the supervisor. */
export interface ReloadDeps {
  app: string
  config: HostConfig
  handleFor(l: Loaded): PluginHandle
  replace(old: PluginHandle, h: PluginHandle): void
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
  d.replace(old, h)
  if (loaded.kind === 'failed') throw loaded.error
  const sink = d.handlerSink()
  if (h.latency && sink) {
    h.latency.sink = (ms) => sink(h.name, ms)
  }
  try {
    await h.start()
  } catch (err) {
    d.failed(h, err)
    throw err
  }
}
