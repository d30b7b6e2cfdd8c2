/**
 * The supervisor's own entry types and how they build `replica.plugins`. Pure and host-free: the
 * worker runtime applies them too, and every replica must agree.
 */
import { applyCluster, CLUSTER_TYPES, isClusterType, type ClusterType } from './cluster-builtin.js'
import type { InstanceRecord, LogEntry, PluginRecord, Replica } from './types.js'

export const BUILT_IN_TYPES = [
  'plugin/started', 'plugin/failed', 'plugin/quarantined', 'plugin/stopped', 'plugin/restarted',
  'instance/joined', 'instance/left',
] as const
export type BuiltInType = (typeof BUILT_IN_TYPES)[number] | ClusterType

const builtIn = new Set<string>([...BUILT_IN_TYPES, ...CLUSTER_TYPES])
export const isBuiltIn = (type: string): type is BuiltInType => builtIn.has(type)

/** Why a plugin stopped; `disabled` and `removed` also drop its `meta` namespace. */
export type StopCause = 'shutdown' | 'disabled' | 'removed' | 'policy'

/** In a cluster, the supervisor's entries about plugins and instances name their node. */
interface PluginArgs { plugin: string; node?: string }
interface ErrorArgs extends PluginArgs { error?: { code: string | null; message: string } | null }
interface StopArgs extends PluginArgs { cause?: StopCause }
interface JoinArgs extends PluginArgs { id: number; pid: number; threadId?: number }

const EMPTY: PluginRecord = { state: 'stopped', since: 0, restarts: 0, lastError: null, instances: {} }

/** The replica after a built-in entry. Never mutates: a new object along the changed path. */
export function applyBuiltIn(replica: Replica, entry: LogEntry): Replica {
  if (isClusterType(entry.type)) return applyCluster(replica, entry)
  const a = entry.args as PluginArgs
  const name = a.plugin
  const prev = replica.plugins?.[name] ?? EMPTY
  let rec: PluginRecord = prev
  let dropMeta = false
  switch (entry.type as BuiltInType) {
    case 'plugin/started':
      rec = { ...prev, state: 'started', since: entry.seq }
      break
    case 'plugin/restarted':
      rec = { ...prev, state: 'started', since: entry.seq, restarts: prev.restarts + 1 }
      break
    case 'plugin/failed':
    case 'plugin/quarantined':
      rec = { ...prev, state: entry.type === 'plugin/failed' ? 'failed' : 'quarantined', since: entry.seq, lastError: (a as ErrorArgs).error ?? null }
      break
    case 'plugin/stopped': {
      const cause = (a as StopArgs).cause
      // In a cluster, one node's stop ends its own instances: the plugin (and its namespace) lives
      // on while another node still runs some.
      const others = a.node === undefined ? {} : Object.fromEntries(Object.entries(prev.instances).filter(([, i]) => i.node !== a.node))
      if (Object.keys(others).length) {
        rec = { ...prev, instances: others }
        break
      }
      rec = { ...prev, state: 'stopped', since: entry.seq, instances: {} }
      dropMeta = cause === 'disabled' || cause === 'removed'
      break
    }
    case 'instance/joined': {
      const { id, pid, threadId } = a as JoinArgs
      const inst: InstanceRecord = { id, pid, threadId: threadId ?? 0, joined: entry.seq, ...(a.node === undefined ? {} : { node: a.node }) }
      rec = { ...prev, instances: { ...prev.instances, [id]: inst } }
      break
    }
    case 'instance/left': {
      const { id } = a as JoinArgs
      const { [id]: _gone, ...rest } = prev.instances
      rec = { ...prev, instances: rest }
      break
    }
  }
  const next: Replica = { ...replica, plugins: { ...replica.plugins, [name]: rec } }
  if (dropMeta && replica.meta && name in replica.meta) {
    const { [name]: _dropped, ...meta } = replica.meta
    return withMetaMap(next, meta)
  }
  return next
}

/** The live instance ids of `plugin` in a replica, in order. */
export function liveInstances(replica: Replica, plugin: string): number[] {
  return Object.values(replica.plugins?.[plugin]?.instances ?? {}).map((i) => i.id).sort((a, b) => a - b)
}

/** The replica with `meta` replaced; an empty `meta` is left out, so equal replicas compare equal. */
export function withMetaMap(replica: Replica, meta: Record<string, unknown>): Replica {
  const { meta: _old, ...rest } = replica
  return Object.keys(meta).length === 0 ? rest : { ...rest, meta }
}
