/**
 * This supervisor as a node of the cluster: its Redis link, its beat, its rounds (partitions,
 * reclaims from silent nodes, outboxes), the cluster's coordination log as this node follows
 * it, and the plugins placed here. Built by `start.ts` when the host config has `cluster`.
 */
import os from 'node:os'
import path from 'node:path'
import type { ClusterConfig } from '../config/cluster-config.js'
import type { CoordinatorOptions } from '../coordination/coordinator.js'
import { OutriggerError, errorMessage } from '../errors.js'
import type { PluginLogger } from '../plugin/types.js'
import { ClusterPlugin } from './cluster-plugin.js'
import { clusterReport } from './cluster-status.js'
import { MAX_BACKOFF_MS, RedisLink, redact } from './connection.js'
import { clusterKeys, type ClusterKeys } from './keys.js'
import { ClusterLog } from './cluster-log.js'
import { LogStream } from './log-stream.js'
import { MISSED_BEATS, NodeRegistry, silentFor } from './node-registry.js'
import type { NodeRecord } from './node-registry.js'
import type { ClusterPlacement, PlacedPlugin, PlacedQueue } from './placement.js'
import type { ClusterReport } from './report-types.js'
import type { RedisTls } from './tls.js'

export class ClusterNode implements ClusterPlacement {
  readonly id: string
  readonly keys: ClusterKeys
  readonly link: RedisLink
  readonly registry: NodeRegistry
  readonly plugins: ClusterPlugin[] = []
  private timer: NodeJS.Timeout | undefined
  private upSince = 0
  private closed = false
  private beating: Promise<void> = Promise.resolve()
  private working = false
  private ordinal = 0
  private log: ClusterLog | undefined

  constructor(private readonly cfg: ClusterConfig, private readonly opts: { stateDir: string; commitMs: number; log: PluginLogger; tls: RedisTls | undefined }) {
    this.id = cfg.nodeId ?? `${os.hostname()}-${process.pid}`.replace(/[^A-Za-z0-9_.-]/g, '-')
    this.keys = clusterKeys(cfg.name)
    const where = redact(cfg.redis)
    this.link = new RedisLink(cfg.redis, {
      name: `outrigger-${this.id}`,
      tls: opts.tls,
      onUp: () => {
        this.upSince = Date.now()
        for (const p of this.plugins) p.recheck = true
        opts.log.info({ cluster: cfg.name, redis: where }, `cluster "${cfg.name}": connected to ${where} as node "${this.id}"`)
        this.kick()
      },
      onDown: (err) =>
        opts.log.warn({ cluster: cfg.name, redis: where, err }, `cluster "${cfg.name}": lost ${where}${err ? ` (${err})` : ''}; new events wait in the local outbox, reconnecting with backoff`),
    })
    this.registry = new NodeRegistry(this.link.client, this.keys, this.id, cfg.beatMs)
  }

  /**
   * Waits (up to `ms`) for the first connection: a node joins the cluster's coordination log at
   * start, so it needs Redis then. Later outages only delay the beats. A server certificate this
   * host refuses fails at once: no retry can fix it.
   */
  async start(ms = 10_000): Promise<void> {
    const up = await this.link.connect(ms).catch((err: Error) => {
      this.link.close()
      throw new OutriggerError('RIG_ERR_CLUSTER_UNREACHABLE', `cluster "${this.cfg.name}": cannot connect to ${this.redis}: ${err.message}`)
    })
    if (!up) {
      const { lastError } = this.link.state()
      this.link.close()
      throw new OutriggerError('RIG_ERR_CLUSTER_UNREACHABLE', `cluster "${this.cfg.name}": Redis at ${this.redis} did not answer within ${ms / 1000} s (${lastError ?? 'no answer'}); a node reads the cluster's coordination log when it starts, so Redis must be up then. Start redis-server there, or fix the URL, user or password`)
    }
    // Instance ids in the log are offset by the node's ordinal: unique cluster-wide (64 instances at most per plugin).
    this.ordinal = await new LogStream(this.link.client, this.keys).ordinal(this.id)
    // A fresh beat before this node joins the log: a record left by an earlier life under the
    // same id must not make the others judge the new one silent.
    await this.beat()
    this.schedule()
  }

  /** The coordinator's options on this node: the cluster's log instead of the embedded one. */
  coordination(snapshotEvery: number): Pick<CoordinatorOptions, 'makeLog' | 'node'> {
    return {
      node: { id: this.id, peerBase: this.ordinal * 1000 },
      makeLog: (o) => (this.log = new ClusterLog({
        ...o,
        snapshotEvery,
        stream: new LogStream(this.link.client, this.keys),
        link: this.link,
        url: this.cfg.redis,
        tls: this.opts.tls,
        node: this.id,
        dir: path.join(this.opts.stateDir, 'cluster', this.cfg.name, 'log'),
        log: this.opts.log,
      })),
    }
  }

  attach(plugin: PlacedPlugin): PlacedQueue {
    const p = new ClusterPlugin(plugin, {
      url: this.cfg.redis,
      tls: this.opts.tls,
      nodeId: this.id,
      keys: this.keys,
      cmd: this.link,
      beatMs: this.cfg.beatMs,
      outboxDir: path.join(this.opts.stateDir, 'cluster-outbox'),
      commitMs: this.opts.commitMs,
      coordination: this.openLog(),
      trim: { everyMs: this.cfg.trimMs, deadMaxLen: this.cfg.deadMaxLen },
      log: this.opts.log,
    })
    this.plugins.push(p)
    // Groups and own leftovers first; a failure (Redis down) is retried by the reader.
    p.start().catch((err) => this.opts.log.warn({ plugin: plugin.name, err }, `plugin "${plugin.name}": cluster start: ${errorMessage(err)}`))
    this.kick()
    return p
  }

  /**
   * Two loops, each every `beatMs`: the beat (this node's record: small and quick) and the
   * rounds (partitions, membership, reclaiming, forwarding the outbox: possibly long). A long round must not delay a beat, or the others would take this node for dead and
   * run what it still holds.
   */
  private schedule(): void {
    if (this.closed) return
    this.timer = setTimeout(() => this.kick(), this.cfg.beatMs)
    this.timer.unref()
  }

  /** A beat now, and a round once the previous one finished (the next ones are scheduled after them). */
  private kick(): void {
    if (this.closed) return
    clearTimeout(this.timer)
    this.beating = this.beating.then(() => this.beat()).finally(() => this.schedule())
    if (!this.working) {
      this.working = true
      void this.round().finally(() => (this.working = false))
    }
  }

  private async beat(): Promise<void> {
    if (!this.link.up) return
    try {
      await this.registry.beat(this.plugins.map((p) => ({ name: p.name, instances: p.instances })), this.log?.isOpen ? this.log.committed : undefined)
    } catch (err) {
      if (this.link.up) this.opts.log.warn({ err }, `cluster "${this.cfg.name}": beat failed: ${errorMessage(err)}`)
    }
  }

  private async round(): Promise<void> {
    if (!this.link.up || !this.log?.isOpen) return
    try {
      const nodes = new Map((await this.registry.list()).map((n) => [n.id, n]))
      // Only a node connected for longer than the silence limit (plus the longest reconnect
      // wait, so the others are back from the same outage) judges the others.
      const judges = (silenceMs: number) => Date.now() - this.upSince > silenceMs + MAX_BACKOFF_MS
      for (const p of this.plugins) await p.tick(nodes, judges(p.silenceMs))
      await this.membership(nodes, judges)
    } catch (err) {
      if (this.link.up) this.opts.log.warn({ err }, `cluster "${this.cfg.name}": ${errorMessage(err)}`)
    }
  }

  /**
   * The nodes in the log follow the beats: a node silent for longer than every plugin here allows
   * leaves it (its instances leave the replica with it), and this node joins again if the others
   * judged it gone.
   */
  private async membership(nodes: ReadonlyMap<string, NodeRecord>, judges: (ms: number) => boolean): Promise<void> {
    const log = this.log!
    const inLog = log.replica.cluster?.nodes ?? {}
    if (!(this.id in inLog)) await log.append('node/joined', { node: this.id })
    const silenceMs = Math.max(MISSED_BEATS * this.cfg.beatMs, ...this.plugins.map((p) => p.silenceMs))
    if (!judges(silenceMs)) return
    const gone = Object.keys(inLog).filter((id) => id !== this.id && silentFor(nodes.get(id), silenceMs))
    await Promise.all(gone.map((node) => log.append('node/left', { node, cause: 'silent' })))
  }

  /** The log, for what is decided in it (partitions); it opens with the supervisor's boot. */
  private openLog(): ClusterLog {
    if (!this.log) throw new OutriggerError('RIG_ERR_CLOSED', `cluster "${this.cfg.name}": a plugin was placed before the coordination log was made`)
    return this.log
  }

  report(): Promise<ClusterReport> {
    return clusterReport(this)
  }

  get name(): string {
    return this.cfg.name
  }

  get beatMs(): number {
    return this.cfg.beatMs
  }

  get redis(): string {
    return redact(this.cfg.redis)
  }

  /** After the plugins closed: leave the cluster (the others reclaim at once) and disconnect. */
  async close(): Promise<void> {
    this.closed = true
    clearTimeout(this.timer)
    await this.beating
    for (const p of this.plugins) await p.close()
    if (this.link.up && this.log?.isOpen) await this.log.append('node/left', { node: this.id, cause: 'stopped' }).catch(() => undefined)
    if (this.link.up) await this.registry.leave().catch(() => undefined)
    this.link.close()
  }
}
