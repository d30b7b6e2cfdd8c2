/** Every Redis key of a cluster, in one place: `outrigger:<cluster>:…`. */

/** Partitions of a `partitionBy` cluster plugin: each is its own stream, leased to one node at a time. */
export const CLUSTER_PARTITIONS = 16

/** The consumer group every node reads a plugin's streams through. */
export const GROUP = 'outrigger'

export interface ClusterKeys {
  nodes: string
  node(id: string): string
  /** The plugin's stream, or one partition's stream of a `partitionBy` plugin. */
  stream(plugin: string, partition?: number): string
  dead(plugin: string): string
  lease(plugin: string, partition: number): string
  /** The plugins of the cluster (for `status --cluster`). */
  plugins: string
}

export function clusterKeys(cluster: string): ClusterKeys {
  const base = `outrigger:${cluster}`
  return {
    nodes: `${base}:nodes`,
    node: (id) => `${base}:node:${id}`,
    stream: (plugin, partition) => (partition === undefined ? `${base}:plugin:${plugin}` : `${base}:plugin:${plugin}:p${partition}`),
    dead: (plugin) => `${base}:plugin:${plugin}:dead`,
    lease: (plugin, partition) => `${base}:plugin:${plugin}:lease:${partition}`,
    plugins: `${base}:plugins`,
  }
}
