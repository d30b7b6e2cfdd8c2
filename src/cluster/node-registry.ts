/**
 * The nodes of a cluster and their beats. Each node writes its record (`outrigger:<c>:node:<id>`,
 * JSON) every `beatMs`; the record expires after FORGET_MS, so a node gone for good leaves the
 * list by itself. A node is *missing* once its beat is older than its own beat period times
 * MISSED_BEATS; its consumers' pending entries are reclaimed once it is older than the plugin's
 * `unresponsiveMs`.
 */
import os from 'node:os'
import type { Redis } from 'ioredis'
import type { ClusterKeys } from './keys.js'

export const FORGET_MS = 60_000
export const MISSED_BEATS = 3

export interface NodeRecord {
  id: string
  host: string
  pid: number
  startedAt: number
  /** This node's clock at its last beat (nodes are expected to keep their clocks in sync, e.g. NTP). */
  beatAt: number
  beatMs: number
  plugins: Array<{ name: string; instances: number }>
  /** The coordination log's seq this node had applied at its beat. */
  logSeq?: number
}

export class NodeRegistry {
  private readonly startedAt = Date.now()

  constructor(private readonly r: Redis, private readonly keys: ClusterKeys, readonly id: string, private readonly beatMs: number) {}

  /** Writes this node's beat. */
  async beat(plugins: NodeRecord['plugins'], logSeq: number | undefined): Promise<void> {
    const rec: NodeRecord = { id: this.id, host: os.hostname(), pid: process.pid, startedAt: this.startedAt, beatAt: Date.now(), beatMs: this.beatMs, plugins, ...(logSeq === undefined ? {} : { logSeq }) }
    await this.r.multi().set(this.keys.node(this.id), JSON.stringify(rec), 'PX', FORGET_MS).sadd(this.keys.nodes, this.id).exec()
  }

  /** Every node still remembered; forgotten ids leave the set. */
  async list(): Promise<NodeRecord[]> {
    const ids = await this.r.smembers(this.keys.nodes)
    if (!ids.length) return []
    const raw = await this.r.mget(ids.map((id) => this.keys.node(id)))
    const gone = ids.filter((_, i) => raw[i] === null)
    if (gone.length) await this.r.srem(this.keys.nodes, ...gone)
    return raw.filter((x): x is string => x !== null).map((x) => JSON.parse(x) as NodeRecord)
  }

  /** Leaves the cluster at a clean stop: the others reclaim what it left at once. */
  async leave(): Promise<void> {
    await this.r.multi().del(this.keys.node(this.id)).srem(this.keys.nodes, this.id).exec()
  }
}

/** Whether a node's beat is overdue by more than `ms`. */
export function silentFor(rec: NodeRecord | undefined, ms: number, now = Date.now()): boolean {
  return !rec || now - rec.beatAt > ms
}
