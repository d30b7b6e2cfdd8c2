/**
 * The cluster's own entry types, appended by the supervisors of a cluster (never by a plugin):
 * which nodes are in, and which node serves each partition of a `partitionBy` cluster plugin.
 * Pure and host-free like builtin.ts: every node and every worker instance applies them alike.
 *
 * A claim of a partition another node holds changes nothing, so two nodes racing for one free
 * partition both append, and the log's order picks the winner: each reads the outcome from its
 * replica, never from its own append.
 */
import type { ClusterRecord, LogEntry, PluginRecord, Replica } from './types.js'

export const CLUSTER_TYPES = ['node/joined', 'node/left', 'partition/claimed', 'partition/released'] as const
export type ClusterType = (typeof CLUSTER_TYPES)[number]

const clusterTypes = new Set<string>(CLUSTER_TYPES)
export const isClusterType = (type: string): type is ClusterType => clusterTypes.has(type)

interface NodeArgs { node: string }
interface PartitionArgs extends NodeArgs { plugin: string; partition: number }

const EMPTY: ClusterRecord = { nodes: {}, partitions: {} }

/** The replica after a cluster entry. Never mutates. */
export function applyCluster(replica: Replica, entry: LogEntry): Replica {
  const c = replica.cluster ?? EMPTY
  const a = entry.args as PartitionArgs
  switch (entry.type as ClusterType) {
    case 'node/joined': {
      // A node that comes back under the same id: what its earlier life left is gone.
      const next = withoutNode(replica, a.node)
      const nc = next.cluster ?? EMPTY
      return { ...next, cluster: { ...nc, nodes: { ...nc.nodes, [a.node]: { since: entry.seq } } } }
    }
    case 'node/left': {
      const next = withoutNode(replica, a.node)
      const { [a.node]: _gone, ...nodes } = next.cluster?.nodes ?? {}
      return { ...next, cluster: { ...(next.cluster ?? EMPTY), nodes } }
    }
    case 'partition/claimed': {
      const held = c.partitions[a.plugin] ?? {}
      if (held[a.partition] !== undefined) return replica
      return { ...replica, cluster: { ...c, partitions: { ...c.partitions, [a.plugin]: { ...held, [a.partition]: a.node } } } }
    }
    case 'partition/released': {
      const held = c.partitions[a.plugin] ?? {}
      if (held[a.partition] !== a.node) return replica
      const { [a.partition]: _freed, ...rest } = held
      return { ...replica, cluster: { ...c, partitions: { ...c.partitions, [a.plugin]: rest } } }
    }
  }
}

/** The replica without `node`'s instances and partitions (it left, or starts a new life). */
function withoutNode(replica: Replica, node: string): Replica {
  let plugins = replica.plugins
  for (const [name, rec] of Object.entries(replica.plugins ?? {})) {
    const kept = Object.entries(rec.instances).filter(([, i]) => i.node !== node)
    if (kept.length === Object.keys(rec.instances).length) continue
    plugins = { ...plugins, [name]: { ...rec, instances: Object.fromEntries(kept) } as PluginRecord }
  }
  const next = plugins === replica.plugins ? replica : { ...replica, plugins }
  const c = replica.cluster
  if (!c) return next
  const partitions: ClusterRecord['partitions'] = {}
  for (const [plugin, held] of Object.entries(c.partitions)) partitions[plugin] = Object.fromEntries(Object.entries(held).filter(([, n]) => n !== node))
  return { ...next, cluster: { ...c, partitions } }
}

/** The partitions of `plugin` that `node` holds in a replica, in order. */
export function partitionsOf(replica: Replica, plugin: string, node: string): number[] {
  return Object.entries(replica.cluster?.partitions[plugin] ?? {}).filter(([, n]) => n === node).map(([p]) => Number(p)).sort((a, b) => a - b)
}

/** Which node holds partition `p` of `plugin`, if any. */
export function holderOf(replica: Replica, plugin: string, p: number): string | undefined {
  return replica.cluster?.partitions[plugin]?.[p]
}
