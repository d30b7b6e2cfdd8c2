import path from 'node:path'
import { permissionFlags } from '../hosts/permission-flags.js'
import type { WorkerSettings } from '../manifest/schema.js'
import { pluginDataDir } from './context.js'

// One computation per settings object: the flags go into every spawn and every status report.
const known = new WeakMap<WorkerSettings, string[]>()

/**
 * The Node flags a process-isolated plugin under `worker.permissions` is forked with (the same for
 * each of its instances), or undefined when it runs unconfined.
 */
export function confinementFlags(cfg: WorkerSettings, rootPath: string, stateDir: string, name: string): string[] | undefined {
  if (!cfg.permissions || cfg.isolation !== 'process') return undefined
  let flags = known.get(cfg)
  if (!flags) {
    // Absolute: Node 20 takes no relative path, and ctx.dataDir is checked as the plugin writes it.
    flags = permissionFlags(cfg.permissions, { rootPath, dataDir: path.resolve(pluginDataDir(stateDir, name)) })
    known.set(cfg, flags)
  }
  return flags
}
