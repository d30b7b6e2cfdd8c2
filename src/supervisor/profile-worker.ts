import { OutriggerError } from '../errors.js'
import { checkProfileOptions, MAX_PROFILE_SECONDS, type ProfileOptions } from '../diagnostics/profile-options.js'
import type { ProfileReport } from '../supervision/instance-diagnostics.js'
import type { PluginHandle } from './plugin-handle.js'
import { WorkerPlugin } from './worker-plugin.js'

export type { ProfileOptions, ProfileReport }

/** `sup.profile`: a CPU profile of a worker plugin's instance (docs/diagnostics.md). */
export async function profileWorker(h: PluginHandle | undefined, name: string, opts: ProfileOptions, loaded: string[]): Promise<ProfileReport> {
  const { instance, seconds } = checkProfileOptions(opts, `profile "${name}"`)
  if (!h) throw new OutriggerError('RIG_ERR_UNKNOWN_PLUGIN', `no plugin "${name}" is loaded (loaded: ${loaded.join(', ') || 'none'})`)
  if (!(h instanceof WorkerPlugin)) {
    throw new OutriggerError('RIG_ERR_PROFILE_UNAVAILABLE', `plugin "${name}" is not a running worker plugin; a core plugin runs in the host's own thread: profile the host (node --cpu-prof)`)
  }
  const ms = seconds === undefined ? Math.min(h.diagnostics.defaultProfileMs, MAX_PROFILE_SECONDS * 1000) : Math.round(seconds * 1000)
  return h.diagnostics.onDemand(instance, ms)
}
