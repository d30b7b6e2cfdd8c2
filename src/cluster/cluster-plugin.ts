/**
 * One worker plugin placed in the cluster, on this node: its producer (accepted events → its
 * stream, or the outbox during an outage), its reader (the consumer group → the local dispatcher),
 * its acks (after the local instance acknowledged), its dead-letter stream, and for a
 * `partitionBy` plugin the partitions this node holds.
 *
 * The local dispatcher knows a consumed entry by a number in its `journal` slot (a token here),
 * which comes back in `settled`; the token maps to the entry's stream and id.
 */
import path from 'node:path'
import type { Redis } from 'ioredis'
import { errorMessage, type SerializedError } from '../errors.js'
import type { Pending } from '../delivery/queue.js'
import { partitionOf, pathGetter } from '../delivery/partition.js'
import { Acks } from './acks.js'
import { decode, FIELD } from './codec.js'
import { RedisLink } from './connection.js'
import { GroupReader } from './consumer-group.js'
import { Outbox } from './forwarder.js'
import { CLUSTER_PARTITIONS, type ClusterKeys } from './keys.js'
import type { NodeRecord } from './node-registry.js'
import { LogAssignment, type PartitionAssignment } from './partition-assignment.js'
import type { Log } from '../coordination/log.js'
import type { PlacedPlugin, PlacedQueue } from './placement.js'
import { StreamProducer } from './plugin-stream.js'
import { adoptPartition, reclaimSilent } from './reclaim.js'
import { ensureGroup, type Entry } from './stream-ops.js'
import type { RedisTls } from './tls.js'
import { StreamTrimmer } from './trim.js'

/** What a plugin gets from its node. */
export interface NodeLinks {
  url: string
  tls: RedisTls | undefined
  nodeId: string
  keys: ClusterKeys
  cmd: RedisLink
  beatMs: number
  outboxDir: string
  commitMs: number
  /** The cluster's coordination log: partitions are assigned in it. */
  coordination: Log
  /** How often the plugin's streams are trimmed, and how many dead letters are kept. */
  trim: { everyMs: number; deadMaxLen: number }
  log: { warn(o: object, m: string): void; error(o: object, m: string): void }
}

/** Entries a node may hold unfinished per plugin: the local queue's bound, at most this. */
const WINDOW_MAX = 2048

export class ClusterPlugin implements PlacedQueue {
  readonly name: string
  private readonly producer: StreamProducer
  readonly outbox: Outbox
  readonly acks: Acks
  private readonly reader: GroupReader
  private readonly trimmer: StreamTrimmer
  readonly assignment: PartitionAssignment | undefined
  private readonly tokens = new Map<number, { stream: string; id: string }>()
  private nextToken = 1
  private readonly held = new Map<string, number>()
  private readonly window: number
  /** Partition streams gained and not yet adopted (their pending claimed). */
  private readonly toAdopt: string[] = []
  private reading = true
  reclaimed = 0

  constructor(private readonly plugin: PlacedPlugin, private readonly n: NodeLinks) {
    this.name = plugin.name
    const { keys } = n
    this.window = Math.min(plugin.cfg.queue.max, WINDOW_MAX)
    this.outbox = new Outbox(path.join(n.outboxDir, this.name), n.commitMs, (err) => n.log.error({ plugin: this.name, err }, `plugin "${this.name}": cluster outbox failed: ${errorMessage(err)}`))
    this.outbox.openIfLeft()
    const by = plugin.cfg.partitionBy
    const key = by === null ? undefined : pathGetter(by)
    const streamOf = key ? (payload: unknown) => keys.stream(this.name, partitionOf(key(payload), CLUSTER_PARTITIONS)) : () => keys.stream(this.name)
    this.producer = new StreamProducer(n.cmd, streamOf, this.outbox, (event, err) => plugin.report(event, err))
    this.acks = new Acks(n.cmd)
    if (key) this.assignment = new LogAssignment(n.coordination, this.name, n.nodeId, CLUSTER_PARTITIONS, (p) => {
        this.toAdopt.push(keys.stream(this.name, p))
        this.reader.wake()
      })
    const blocking = new RedisLink(n.url, { name: `outrigger-${n.nodeId}-${this.name}`, tls: n.tls })
    this.reader = new GroupReader(blocking, n.nodeId, {
      streams: () => this.streams(),
      room: () => (this.reading ? this.window - this.tokens.size : 0),
      take: (stream, entries) => this.take(stream, entries, false),
      regroup: () => this.groups(),
    }, Math.max(50, Math.min(1000, n.beatMs)))
    const all = key ? Array.from({ length: CLUSTER_PARTITIONS }, (_, p) => keys.stream(this.name, p)) : [keys.stream(this.name)]
    this.trimmer = new StreamTrimmer(n.cmd, all, keys.trim(this.name), n.trim.everyMs, (err, m) => n.log.warn({ plugin: this.name, err }, `plugin "${this.name}": trimming its streams failed: ${m}`))
  }

  private get r(): Redis {
    return this.n.cmd.client
  }

  /** Creates the consumer groups (idempotent), takes back this node's own pending entries, starts reading. */
  async start(): Promise<void> {
    if (this.n.cmd.up) {
      await this.groups()
      // Unpartitioned: only this node's own leftovers (a restart under the same nodeId); other
      // nodes' are reclaimed once they fall silent.
      const me = this.n.nodeId
      if (!this.assignment) this.take(this.n.keys.stream(this.name), await adoptPartition(this.r, this.n.keys.stream(this.name), me, (p) => p.consumer !== me), true)
    }
    this.reader.start()
  }

  private async groups(): Promise<void> {
    const { keys } = this.n
    const streams = this.assignment ? Array.from({ length: CLUSTER_PARTITIONS }, (_, p) => keys.stream(this.name, p)) : [keys.stream(this.name)]
    await Promise.all(streams.map((s) => ensureGroup(this.r, s)))
    await this.r.sadd(keys.plugins, this.name)
  }

  private async streams(): Promise<string[]> {
    if (!this.assignment) return [this.n.keys.stream(this.name)]
    // A partition's leftovers run before anything new is read from it.
    while (this.toAdopt.length) {
      const stream = this.toAdopt[0]
      const inFlight = new Set([...this.tokens.values()].filter((t) => t.stream === stream).map((t) => t.id))
      this.take(stream, await adoptPartition(this.r, stream, this.n.nodeId, (p) => p.consumer === this.n.nodeId && inFlight.has(p.id)), true)
      this.toAdopt.shift()
    }
    return [...this.assignment.owned()].map((p) => this.n.keys.stream(this.name, p))
  }

  /** Hands consumed entries to the local dispatcher. */
  private take(stream: string, entries: Entry[], redelivered: boolean): void {
    const d = this.plugin.dispatcher
    for (const e of entries) {
      if (!e.body) {
        // Deleted from the stream meanwhile (trimmed): nothing to run.
        this.acks.add(stream, e.id)
        continue
      }
      let ev
      try {
        ev = decode(e.body)
      } catch (err) {
        this.n.log.error({ plugin: this.name, id: e.id, err }, `plugin "${this.name}": stream entry ${e.id} cannot be read (${errorMessage(err)}); it goes to the dead-letter stream`)
        this.r
          .xadd(this.n.keys.dead(this.name), 'MAXLEN', '~', this.n.trim.deadMaxLen, '*', FIELD, e.body, 'error', errorMessage(err))
          .then(() => this.acks.add(stream, e.id))
          // Not written: it stays pending here and is read again after the next reconnect.
          .catch(() => undefined)
        continue
      }
      const token = this.nextToken++
      this.tokens.set(token, { stream, id: e.id })
      this.held.set(stream, (this.held.get(stream) ?? 0) + 1)
      if (redelivered) {
        d.counters.redelivered++
        this.reclaimed++
      }
      // Refused (the plugin is stopped): it stays pending here, for this node's restart or a reclaim.
      if (!d.enqueue(ev.subscription, ev.event, ev.payload, { seq: token, attempts: 0 }) && this.tokens.has(token)) this.forget(token)
    }
  }

  private forget(token: number): { stream: string; id: string } | undefined {
    const t = this.tokens.get(token)
    if (!t) return undefined
    this.tokens.delete(token)
    this.held.set(t.stream, (this.held.get(t.stream) ?? 1) - 1)
    this.reader.wake()
    return t
  }

  enqueue(subscription: string, event: string, payload: unknown): boolean {
    return this.producer.accept(subscription, event, payload)
  }

  offer(subscription: string, event: string, payload: unknown): boolean {
    return this.producer.accept(subscription, event, payload)
  }

  settled(p: Pending, _outcome: string): void {
    if (p.journal === undefined) return
    const t = this.forget(p.journal)
    if (t) this.acks.add(t.stream, t.id)
  }

  deadLettered(p: Pending, error: SerializedError | null): boolean {
    if (p.journal === undefined) return false
    // At shutdown the event was not tried to the end: it stays pending for another node.
    if (error?.code === 'RIG_ERR_CLOSED') {
      this.forget(p.journal)
      return true
    }
    const t = this.tokens.get(p.journal)
    if (!t) return false
    const body = JSON.stringify({ event: p.event, subscription: p.subscription, attempts: p.attempts, error, node: this.n.nodeId, stream: t.stream, id: t.id })
    // Same connection, so the letter is written before the ack that follows it is sent.
    // Bounded: beyond deadMaxLen the oldest letters are dropped (the status counts them).
    this.r.xadd(this.n.keys.dead(this.name), 'MAXLEN', '~', this.n.trim.deadMaxLen, '*', 'letter', body).catch(() => undefined)
    this.settled(p, 'dead-lettered')
    return false
  }

  empty(): boolean {
    return this.producer.empty && this.tokens.size === 0
  }

  stop(): void {
    this.reading = false
  }

  /** One round: take partitions, claim what silent nodes left, forward the outbox, trim the streams. */
  async tick(nodes: ReadonlyMap<string, NodeRecord>, judge: boolean): Promise<void> {
    if (this.outbox.waiting) await this.outbox.forward(this.producer.write)
    await this.acks.flush()
    if (!this.reading) return
    if (this.recheck) await this.takeBackOwn()
    if (this.assignment) {
      const live = new Set([...nodes.values()].filter((n) => n.plugins.some((p) => p.name === this.name) && Date.now() - n.beatAt <= this.plugin.cfg.limits.unresponsiveMs).map((n) => n.id))
      live.add(this.n.nodeId)
      // Quiet: nothing of it runs here, and no read in flight can still bring some.
      await this.assignment.tick(live, judge, (p) => {
        const s = this.n.keys.stream(this.name, p)
        return (this.held.get(s) ?? 0) === 0 && !this.reader.reads(s)
      })
    } else if (judge) {
      const room = this.window - this.tokens.size
      if (room > 0) this.take(this.n.keys.stream(this.name), await reclaimSilent(this.r, this.n.keys.stream(this.name), this.n.nodeId, nodes, this.plugin.cfg.limits.unresponsiveMs, room), true)
    }
    await this.trimmer.tick()
  }

  get instances(): number {
    return this.plugin.cfg.instances
  }

  /** How long a node may stay silent before what it holds of this plugin is reclaimed. */
  get silenceMs(): number {
    return this.plugin.cfg.limits.unresponsiveMs
  }

  /** Set when the link came back: a read whose answer was lost left entries pending on this node. */
  recheck = false

  /**
   * Entries pending on this node that do not run here (their read's answer was lost with the
   * connection) are taken again; idle for a second at least, so a read in flight is not doubled.
   */
  private async takeBackOwn(): Promise<void> {
    this.recheck = false
    const me = this.n.nodeId
    const streams = this.assignment ? [...this.assignment.owned()].map((p) => this.n.keys.stream(this.name, p)) : [this.n.keys.stream(this.name)]
    for (const s of streams) {
      const here = new Set([...this.tokens.values()].filter((t) => t.stream === s).map((t) => t.id).concat(this.acks.waitingIds(s)))
      this.take(s, await adoptPartition(this.r, s, me, (p) => p.consumer !== me || here.has(p.id), 1000), true)
    }
  }

  partitions(): number[] {
    return this.assignment ? [...this.assignment.owned()].sort((a, b) => a - b) : []
  }

  stats() {
    return { plugin: this.name, appended: this.producer.appended, outbox: this.outbox.depth, journaled: this.outbox.journaled, forwarded: this.outbox.forwarded, reclaimed: this.reclaimed, acked: this.acks.acked, partitions: this.partitions() }
  }

  private closing: Promise<void> | undefined

  /** Idempotent: the worker plugin closes it, and the node again when it leaves. */
  close(): Promise<void> {
    return (this.closing ??= this.shut())
  }

  private async shut(): Promise<void> {
    this.reading = false
    this.producer.flush()
    await this.reader.stop()
    if (this.n.cmd.up) await this.outbox.forward(this.producer.write)
    await this.acks.flush()
    if (this.n.cmd.up) await this.assignment?.releaseAll().catch(() => undefined)
    await this.outbox.close()
  }
}
