/** Every Redis key of a cluster, in one place: `outrigger:<cluster>:…`. */

/** Partitions of a `partitionBy` cluster plugin: each is its own stream, served by one node at a time (assigned in the coordination log). */
export const CLUSTER_PARTITIONS = 16

/** The consumer group every node reads a plugin's streams through. */
export const GROUP = 'outrigger'

export interface ClusterKeys {
  nodes: string
  node(id: string): string
  /** The plugin's stream, or one partition's stream of a `partitionBy` plugin. */
  stream(plugin: string, partition?: number): string
  dead(plugin: string): string
  /** The plugin's trim record: when its streams were last trimmed, and how much was removed. */
  trim(plugin: string): string
  /** The plugins of the cluster (for `status --cluster`). */
  plugins: string
  /** The coordination log: a stream whose entry ids are `<seq>-0`, its head seq, and its epoch. */
  log: string
  logHead: string
  logEpoch: string
  /** Each node's ordinal (a small number, for instance ids unique cluster-wide), and the counter. */
  ordinals: string
  ordinal: string
}

export function clusterKeys(cluster: string): ClusterKeys {
  const base = `outrigger:${cluster}`
  return {
    nodes: `${base}:nodes`,
    node: (id) => `${base}:node:${id}`,
    stream: (plugin, partition) => (partition === undefined ? `${base}:plugin:${plugin}` : `${base}:plugin:${plugin}:p${partition}`),
    dead: (plugin) => `${base}:plugin:${plugin}:dead`,
    trim: (plugin) => `${base}:plugin:${plugin}:trim`,
    plugins: `${base}:plugins`,
    log: `${base}:log`,
    logHead: `${base}:log:head`,
    logEpoch: `${base}:log:epoch`,
    ordinals: `${base}:ordinals`,
    ordinal: `${base}:ordinal`,
  }
}
