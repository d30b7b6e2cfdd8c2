/**
 * Live changes to the running plugin set: reload a plugin from disk (`outrigger reload`), restart
 * one (`outrigger restart`), start one that was just enabled and stop one that was just disabled
 * (`plugins enable|disable --now`).
 */
import { OutriggerError, errorMessage, forLog, isOutriggerError } from '../errors.js'
import { entryOf, loadPlugins, type Loaded } from '../plugin/load-plugins.js'
import { stopLive } from './coordination-wiring.js'
import { CorePlugin } from './core-plugin.js'
import { importCore, reloadCore, retire } from './core-reload.js'
import { FailedPlugin } from './failed-plugin.js'
import { keepSection, notRestartable, readAgain, refuseSlotProvider, reloadFailed, startHandle, type ReloadDeps } from './plugin-reload.js'
import type { PluginHandle } from './plugin-handle.js'
import { reloadFailure, reloadRefused } from './worker-reload.js'
import type { ReloadResult } from './types.js'
import { WorkerPlugin } from './worker-plugin.js'

/**
 * Reads a plugin from disk again (manifest, config section, code) and puts it in place of the
 * running one: a worker plugin rolls its instances; a core plugin must say `reloadable: true`;
 * a plugin that failed to load is read and started as by a restart. A failure is logged, and the
 * old code keeps serving where the error says so.
 */
export function reloadPlugin(name: string, d: ReloadDeps): Promise<ReloadResult> {
  return exclusive(name, d, () => reload(name, d))
}

async function reload(name: string, d: ReloadDeps): Promise<ReloadResult> {
  const h = known(name, d)
  const started = performance.now()
  const before = h.status().version
  try {
    let instances = 0
    if (h instanceof CorePlugin) await reloadCore(h, d)
    else if (h instanceof FailedPlugin) await reloadFailed(h, d)
    else instances = (await reloadWorker(h as WorkerPlugin, d)).rolled
    const to = d.get(name)!.status().version
    const ms = Math.round(performance.now() - started)
    d.rt.log.info({ plugin: name, from: before, to, instances, ms }, `plugin "${name}" reloaded: ${before} → ${to} in ${ms} ms`)
    return { plugin: name, from: before, to, instances, ms }
  } catch (err) {
    d.rt.log.error({ plugin: name, err: forLog(err) }, `reload of "${name}" failed: ${errorMessage(err)}`)
    throw err
  }
}

async function reloadWorker(w: WorkerPlugin, d: ReloadDeps): Promise<{ rolled: number }> {
  const { found, config } = await readAgain(w.name, d)
  if (found.manifest?.type === 'core') throw reloadRefused(w.name, 'it changed from worker to core; restart the host to apply that')
  const [loaded] = await loadPlugins([found], config)
  if (loaded.kind === 'failed') throw reloadFailure(w.name, loaded.error)
  const m = found.manifest!
  try {
    const out = await w.reload({ name: w.name, manifest: m, entry: entryOf(found), rootPath: found.dir, options: loaded.options, shadowed: found.shadowed, rt: d.rt })
    keepSection(d, w.name, config)
    // `pluginFolder` answers from what was loaded: a newer name@version folder is another folder.
    d.replace(w, w, loaded)
    return out
  } catch (err) {
    // Nothing was up and the fresh start failed: as after a failed restart, the plugin is failed.
    if (!(err instanceof OutriggerError) || !['RIG_ERR_RELOAD_FAILED', 'RIG_ERR_RELOAD_REFUSED'].includes(err.code)) d.failed(w, err)
    throw err
  }
}

/**
 * Operator restart. A worker plugin comes back whatever stopped it (quarantine, a failed first
 * start): its instances import the entry afresh. A plugin that failed to load is read from disk
 * again, so "fix it, then restart it" works; a worker plugin's code is never imported here, so
 * that is safe. A core plugin is refused: see `notRestartable` (plugin-reload.ts).
 */
export async function restartPlugin(name: string, d: ReloadDeps): Promise<void> {
  const h = known(name, d)
  if (h instanceof CorePlugin) throw notRestartable(name, d.app)
  if (h instanceof FailedPlugin) return reloadFailed(h, d)
  const w = h as WorkerPlugin
  await w.operatorRestart().catch((err) => {
    d.failed(w, err)
    throw err
  })
}

/** `plugins enable <name> --now`: loads a plugin that is not running yet and starts it. */
export function startPlugin(name: string, d: ReloadDeps): Promise<void> {
  return exclusive(name, d, () => start(name, d))
}

async function start(name: string, d: ReloadDeps): Promise<void> {
  if (d.get(name)) throw reloadRefused(name, `it is already loaded; to run its code from disk again use: outrigger reload ${name}`)
  const { found, config } = await readAgain(name, d)
  // A core plugin stopped earlier comes back from a fresh import: its module runs again.
  let [loaded] = found.manifest?.type === 'core' ? [await importCore(found, config).catch((error): Loaded => ({ kind: 'failed', found, error }))] : await loadPlugins([found], config)
  if (loaded.kind === 'failed' && isOutriggerError(loaded.error, 'RIG_ERR_RELOAD_REFUSED')) throw loaded.error
  if (loaded.kind === 'core-factory') loaded = await d.fromFactory(loaded)
  const h = d.handleFor(loaded)
  d.add(h, loaded)
  keepSection(d, name, config)
  if (loaded.kind === 'failed') throw loaded.error
  await startHandle(h, d, true)
}

/**
 * `plugins disable <name> --now`: takes the plugin off the bus (no new events), drains what it
 * holds (until `timeouts.drainMs`), closes it and removes it. A core plugin must say
 * `reloadable: true`: its module stays in memory, and only then is closing it enough.
 */
export function stopPlugin(name: string, d: ReloadDeps): Promise<void> {
  return exclusive(name, d, () => stop(name, d))
}

async function stop(name: string, d: ReloadDeps): Promise<void> {
  const h = known(name, d)
  if (h instanceof CorePlugin) {
    if (!h.manifest.reloadable) throw notRestartable(name, d.app)
    refuseSlotProvider(name, d, 'stopped')
  }
  // The log hears of it as `disabled`: its namespace goes with it, and a later start begins empty.
  await stopLive(d.rt.coordination, name, 'disabled', async () => {
    if (h instanceof CorePlugin) return retire(h, d)
    d.offBus(h)
    await h.drain(Date.now() + d.config.timeouts.drainMs)
    await h.close().catch((err) => d.rt.log.error({ plugin: name, err }, `close of "${name}" failed: ${errorMessage(err)}`))
    // An instance respawned during the drain may have put its hooks back.
    d.offBus(h)
  })
  d.remove(h)
  d.rt.log.info({ plugin: name }, `plugin "${name}" stopped and removed`)
}

/** The plugins of each supervisor (known by its runtime) that a live change is working on. */
const busy = new WeakMap<object, Set<string>>()

/** One live change per plugin at a time: a second one, while the first runs, is refused. */
async function exclusive<T>(name: string, d: ReloadDeps, op: () => Promise<T>): Promise<T> {
  const names = busy.get(d.rt) ?? busy.set(d.rt, new Set()).get(d.rt)!
  if (names.has(name)) throw reloadRefused(name, 'a reload, start or stop of it is under way; wait for its answer')
  names.add(name)
  try {
    return await op()
  } finally {
    names.delete(name)
  }
}

function known(name: string, d: ReloadDeps): PluginHandle {
  const h = d.get(name)
  if (!h) throw new OutriggerError('RIG_ERR_UNKNOWN_PLUGIN', `no plugin "${name}" is loaded (see outrigger plugins list)`, { details: { plugin: name } })
  return h
}
