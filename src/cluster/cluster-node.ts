/**
 * This supervisor as a node of the cluster: its Redis link, its beat (which also renews partition
 * leases, reclaims from silent nodes and forwards outboxes), and the plugins placed here.
 * Built by `start.ts` when the host config has `cluster`.
 */
import os from 'node:os'
import path from 'node:path'
import type { ClusterConfig } from '../config/cluster-config.js'
import { errorMessage } from '../errors.js'
import type { PluginLogger } from '../plugin/types.js'
import { ClusterPlugin } from './cluster-plugin.js'
import { clusterReport } from './cluster-status.js'
import { MAX_BACKOFF_MS, RedisLink, redact } from './connection.js'
import { clusterKeys, type ClusterKeys } from './keys.js'
import { NodeRegistry } from './node-registry.js'
import type { ClusterPlacement, PlacedPlugin, PlacedQueue } from './placement.js'
import type { ClusterReport } from './report-types.js'

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

  constructor(private readonly cfg: ClusterConfig, private readonly opts: { stateDir: string; commitMs: number; log: PluginLogger }) {
    this.id = cfg.nodeId ?? `${os.hostname()}-${process.pid}`.replace(/[^A-Za-z0-9_.-]/g, '-')
    this.keys = clusterKeys(cfg.name)
    const where = redact(cfg.redis)
    this.link = new RedisLink(cfg.redis, {
      name: `outrigger-${this.id}`,
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

  /** Waits (up to `ms`) for the first connection, then beats; a Redis that is down only delays the beats. */
  async start(ms = 5000): Promise<void> {
    await this.link.ready(ms)
    this.schedule()
  }

  attach(plugin: PlacedPlugin): PlacedQueue {
    const p = new ClusterPlugin(plugin, {
      url: this.cfg.redis,
      nodeId: this.id,
      keys: this.keys,
      cmd: this.link,
      beatMs: this.cfg.beatMs,
      outboxDir: path.join(this.opts.stateDir, 'cluster-outbox'),
      commitMs: this.opts.commitMs,
      log: this.opts.log,
    })
    this.plugins.push(p)
    // Groups and own leftovers first; a failure (Redis down) is retried by the reader.
    p.start().catch((err) => this.opts.log.warn({ plugin: plugin.name, err }, `plugin "${plugin.name}": cluster start: ${errorMessage(err)}`))
    this.kick()
    return p
  }

  /**
   * Two loops, each every `beatMs`: the beat (this node's record and its partition leases: small
   * and quick) and the rounds (taking partitions, reclaiming, forwarding the outbox: possibly
   * long). A long round must not delay a beat, or the others would take this node for dead and
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
      await this.registry.beat(this.plugins.map((p) => ({ name: p.name, instances: p.instances })))
      await Promise.all(this.plugins.map((p) => p.leases?.renew()))
    } catch (err) {
      if (this.link.up) this.opts.log.warn({ err }, `cluster "${this.cfg.name}": beat failed: ${errorMessage(err)}`)
    }
  }

  private async round(): Promise<void> {
    if (!this.link.up) return
    try {
      const nodes = new Map((await this.registry.list()).map((n) => [n.id, n]))
      for (const p of this.plugins) {
        // Only a node connected for longer than the plugin's silence limit (plus the longest
        // reconnect wait, so the others are back from the same outage) judges the others.
        await p.tick(nodes, Date.now() - this.upSince > p.silenceMs + MAX_BACKOFF_MS)
      }
    } catch (err) {
      if (this.link.up) this.opts.log.warn({ err }, `cluster "${this.cfg.name}": ${errorMessage(err)}`)
    }
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
    if (this.link.up) await this.registry.leave().catch(() => undefined)
    this.link.close()
  }
}
