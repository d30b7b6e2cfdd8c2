import { OutriggerError } from '../errors.js'
import type { BrokenVersion } from '../manifest/discovery.js'
import type { ServiceSlots } from '../services/slots.js'
import type { PluginHandle } from './plugin-handle.js'

/** What booting needs of the supervisor. */
export interface BootSteps {
  slots: ServiceSlots
  /** Marks a plugin failed: its error, off the bus, logged. */
  failed(h: PluginHandle, err: unknown): void
  stop(): Promise<void>
}

/**
 * Starts the plugins: workers first, then each core plugin's init, then every plugin's whenReady. A plugin
 * that fails is marked failed and the others go on, unless it held a service slot nobody else
 * can take, or `strict` is set: then everything is stopped and the boot throws.
 */
export async function bootPlugins(handles: readonly PluginHandle[], steps: BootSteps, opts: { strict?: boolean; broken?: BrokenVersion[] }): Promise<void> {
  const startOne = async (h: PluginHandle): Promise<void> => {
    try {
      await h.start()
    } catch (err) {
      steps.failed(h, err)
    }
  }
  // Worker plugins first (in parallel: they are independent), so that events emitted by core
  // plugins during init already find their hooks; then core init and whenReady, in order.
  await Promise.all(handles.filter((h) => h.type === 'worker').map((h) => startOne(h)))
  for (const h of handles) if (h.type === 'core') await startOne(h)
  // whenReady: core plugins in order, and worker plugins, whose every instance has run init.
  for (const h of handles) if (h.status().state !== 'failed') await h.ready().catch((err) => steps.failed(h, err))
  const failed = handles.filter((h) => h.status().state === 'failed')
  const stuck = failed.flatMap((h) => steps.slots.withdraw(h.name).map((slot) => `${h.name} (the ${slot} slot)`))
  if (stuck.length) {
    await steps.stop()
    throw new OutriggerError('RIG_ERR_PLUGIN_INIT', `${stuck.join(', ')} failed, and every plugin already holds what it provides; fix the plugin or disable it`)
  }
  // A broken version folder counts too: the older version it leaves running is not what was deployed.
  const broken = opts.broken ?? []
  if (opts.strict && (failed.length || broken.length)) {
    const list = [...failed.map((h) => `${h.name}: ${h.status().lastError?.message}`), ...broken.map((b) => `${b.folder} (broken version folder): ${b.error.message}`)].join('; ')
    await steps.stop()
    throw new OutriggerError('RIG_ERR_STRICT_START', `--strict: ${failed.length + broken.length} plugin(s) or version folder(s) failed, refusing to start: ${list}`)
  }
}
