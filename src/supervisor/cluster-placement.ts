import type { PlacedPlugin, PlacedQueue } from '../cluster/placement.js'
export type { PlacedQueue }
import { OutriggerError } from '../errors.js'
import type { WorkerSettings } from '../manifest/schema.js'
import type { SupervisorRuntime } from './plugin-handle.js'

/**
 * A cluster plugin's settings as its dispatcher runs them: delivery is at-least-once whatever the
 * manifest says (the stream keeps an event until a node acks it; the schema refuses "durable").
 */
export function clusterSettings(cfg: WorkerSettings): WorkerSettings {
  return cfg.placement === 'cluster' ? { ...cfg, delivery: 'at-least-once' } : cfg
}

/** Attaches a `placement: "cluster"` worker plugin to the host's cluster node, or refuses it. */
export function placeInCluster(rt: SupervisorRuntime, name: string, cfg: WorkerSettings, dispatcher: PlacedPlugin['dispatcher'], report: PlacedPlugin['report']): PlacedQueue {
  if (!rt.cluster) {
    throw new OutriggerError('RIG_ERR_CLUSTER_REQUIRED', `plugin "${name}": its manifest says "worker.placement": "cluster" but this host has no cluster; add "cluster": { "redis": "redis://127.0.0.1:6379", "name": "<cluster>" } to the host config (or start with --cluster URL), or set "placement": "local"`)
  }
  return rt.cluster.attach({ name, cfg, dispatcher, report })
}
