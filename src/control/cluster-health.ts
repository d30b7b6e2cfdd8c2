import type { ClusterReport } from '../cluster/report-types.js'

/** `health --cluster`: degraded when any node is missing its beat; each node with its last beat. */
export function clusterHealth(r: ClusterReport): { health: ClusterReport['health']; cluster: string; nodes: Array<{ id: string; missing: boolean; lastBeatMs: number }> } {
  return { health: r.health, cluster: r.cluster, nodes: r.nodes.map((n) => ({ id: n.id, missing: n.missing, lastBeatMs: n.lastBeatMs })) }
}
