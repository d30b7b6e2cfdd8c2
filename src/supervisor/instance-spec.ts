import type { DeadLetters } from '../delivery/dead-letters.js'
import type { InstanceSpec } from '../hosts/worker-host.js'
import type { WorkerSettings } from '../manifest/schema.js'
import { pluginDataDir } from './context.js'
import type { WorkerPluginInit } from './worker-plugin.js'
import { workerBridge } from './worker-bridge.js'

/** What one instance of a worker plugin starts from: its code, options, limits and bridge. */
export function instanceSpec(init: WorkerPluginInit, cfg: WorkerSettings, id: number, deadLetters: DeadLetters, heapSnapshotDir: string): InstanceSpec {
  const { manifest, rt, name } = init
  return {
    plugin: name,
    version: manifest.version,
    instanceId: id,
    entry: init.entry,
    rootPath: init.rootPath,
    dataDir: pluginDataDir(rt.stateDir, name),
    options: init.options,
    limits: cfg.limits,
    // A plugin function is held to the same limit as a hook.
    callTimeoutMs: cfg.limits.handlerTimeoutMs,
    // At-least-once keeps a key's order across retries (see the dispatcher's holds).
    holdKeysBy: cfg.delivery !== 'at-most-once' ? cfg.partitionBy : null,
    instanceCount: cfg.instances,
    ...(rt.coordination && rt.coordination.peerId(id) !== id ? { peerId: rt.coordination.peerId(id) } : {}),
    nice: rt.config.workerNice,
    permissions: cfg.permissions,
    bridge: workerBridge(rt, name, deadLetters),
    ...(cfg.limits.heapSnapshot ? { heapSnapshotDir } : {}),
  }
}
