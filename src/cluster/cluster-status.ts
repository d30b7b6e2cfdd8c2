/**
 * The cluster's status as Redis knows it: every node's beat and plugins, and for every cluster
 * plugin its streams' length, lag (entries no node has read yet), pending entries per consumer,
 * dead letters (kept and dropped) and what trimming removed. Read on demand (`status --cluster`, `GET /_status?cluster=1`), never on a timer.
 */
import type { ClusterNode } from './cluster-node.js'
import { CLUSTER_PARTITIONS } from './keys.js'
import { MISSED_BEATS, type NodeRecord } from './node-registry.js'
import type { ClusterReport } from './report-types.js'
import { consumersOf, droppedOf, groupOf } from './stream-ops.js'
import { trimRecord } from './trim.js'
import { OutriggerError } from '../errors.js'

/** A node is missing once it skipped this many beats (and at least 2 s passed). */
export function isMissing(n: NodeRecord, now = Date.now()): boolean {
  return now - n.beatAt > Math.max(2000, MISSED_BEATS * n.beatMs)
}

export async function clusterReport(node: ClusterNode): Promise<ClusterReport> {
  const link = node.link.state()
  const local = node.plugins.map((p) => p.stats())
  const base = { cluster: node.name, redis: node.redis, node: node.id, link: { connected: link.connected, retries: link.retries, retryInMs: link.retryInMs, outages: link.outages, lastError: link.lastError }, local }
  if (!node.link.up) {
    throw new OutriggerError('RIG_ERR_CLUSTER_UNREACHABLE', `cluster "${node.name}": Redis at ${node.redis} is unreachable (${link.lastError ?? 'connecting'}); reconnecting with backoff, next try in ${link.retryInMs} ms. Check that redis-server runs there and the URL, user and password are right`, { details: base })
  }
  const r = node.link.client
  const now = Date.now()
  const nodes = (await node.registry.list()).sort((a, b) => a.id.localeCompare(b.id))
  const names = (await r.smembers(node.keys.plugins)).sort()
  // Trim passes are stamped with Redis' clock: their age is read against it, not this host's.
  const [sec, micro] = await r.time()
  const redisNow = Number(sec) * 1000 + Math.floor(Number(micro) / 1000)
  const plugins = await Promise.all(
    names.map(async (name) => {
      const single = await groupOf(r, node.keys.stream(name))
      const streams = single ? [node.keys.stream(name)] : Array.from({ length: CLUSTER_PARTITIONS }, (_, p) => node.keys.stream(name, p))
      const groups = single ? [single] : await Promise.all(streams.map((s) => groupOf(r, s)))
      const byConsumer = new Map<string, { pending: number; idleMs: number }>()
      for (const s of streams) {
        for (const c of await consumersOf(r, s)) {
          const was = byConsumer.get(c.name)
          byConsumer.set(c.name, { pending: (was?.pending ?? 0) + c.pending, idleMs: Math.min(was?.idleMs ?? Infinity, c.idleMs) })
        }
      }
      const sum = (f: 'length' | 'lag' | 'pending') => groups.reduce((n, g) => n + (g?.[f] ?? 0), 0)
      // Read after the lengths: a pass in between makes length + trimmed count some entries twice, never miss one.
      const trim = await trimRecord(r, node.keys.trim(name))
      return {
        name,
        streams: streams.length,
        length: sum('length'),
        lag: sum('lag'),
        pending: sum('pending'),
        deadLetters: await r.xlen(node.keys.dead(name)),
        deadDropped: await droppedOf(r, node.keys.dead(name)),
        consumers: [...byConsumer].map(([n, c]) => ({ node: n, pending: c.pending, idleMs: c.idleMs })).sort((a, b) => a.node.localeCompare(b.node)),
        trimmed: trim.trimmed,
        lastTrim: trim.lastTrimAt === null ? null : { agoMs: Math.max(0, redisNow - trim.lastTrimAt), removed: trim.lastTrimmed },
      }
    }),
  )
  const rows = nodes.map((n) => ({ id: n.id, host: n.host, pid: n.pid, plugins: n.plugins, lastBeatMs: Math.max(0, now - n.beatAt), missing: isMissing(n, now), logSeq: n.logSeq ?? null }))
  const log = { head: Number((await r.get(node.keys.logHead)) ?? 0) }
  return { ...base, health: rows.some((n) => n.missing) ? 'degraded' : 'healthy', log, nodes: rows, plugins }
}
