/**
 * The host side of the coordination log: the log itself, the core plugins' part in it (run in
 * process), a replicator per worker instance, and the built-in entries the supervisor appends.
 * It knows no plugin handles: the supervisor wires it in and tells it how to fail a plugin.
 */
import path from 'node:path'
import { OutriggerError, errorCode, errorMessage } from '../errors.js'
import type { PluginLogger } from '../plugin/types.js'
import { type BuiltInType } from './builtin.js'
import { checkEntry } from './entry.js'
import { LmdbLogStore } from './lmdb-log-store.js'
import { CoordinationLog, type Log } from './log.js'
import { PluginPeer } from './peer.js'
import { applyEntry, projection, react, withMeta } from './replica.js'
import { Replicator, type ReplicaHolder } from './replicator.js'
import type { CoordinationApi, CoordinationMap, CoordReply, HandlerFailure, LogEntry, Replica } from './types.js'

export interface CoordinatorOptions {
  /** The state folder: the log lives in `<stateDir>/coordination`. */
  stateDir: string
  snapshotEvery: number
  log: PluginLogger
  /** Marks a plugin failed (a throw in its apply, diff or reactions). */
  fail(plugin: string, err: OutriggerError): void
  /** Another log (a cluster's, shared through Redis); the default: the embedded one, in lmdb. */
  makeLog?(o: { snapshotEvery: number; handlersOf(plugin: string): CoordinationMap | undefined; applyFailed(f: HandlerFailure & { plugin: string }): void }): Log
  /**
   * In a cluster: this node's id, named in its entries about plugins and instances, and what its
   * instance ids are offset by in the log, so that they are unique cluster-wide.
   */
  node?: { id: string; peerBase: number }
}

export class Coordinator {
  readonly log: Log
  private readonly cores = new Map<string, PluginPeer>()
  private readonly replicas = new Map<string, Map<number, Replicator>>()
  private readonly failed = new Set<string>()
  private readonly metaStored = new Set<string>()

  constructor(private readonly opts: CoordinatorOptions) {
    const handlersOf = (p: string) => this.cores.get(p)?.handlers
    this.log = opts.makeLog
      ? opts.makeLog({ snapshotEvery: opts.snapshotEvery, handlersOf, applyFailed: (f) => this.handlerFailed(f.plugin, f) })
      : new CoordinationLog({ store: new LmdbLogStore(path.join(opts.stateDir, 'coordination')), snapshotEvery: opts.snapshotEvery, handlersOf })
    this.log.onCommitted((entry, old, next, diff) => this.committed(entry, old, next, diff))
  }

  /** After the core plugins are registered (their apply replays what the last snapshot lacks). */
  open(): Promise<void> {
    return this.log.open()
  }

  // ── core plugins ─────────────────────────────────────────────────────────────────────────

  /** A core plugin's `ctx.coordination` (its handlers come with its definition: `useHandlers`). */
  core(plugin: string): CoordinationApi {
    let peer = this.cores.get(plugin)
    if (!peer) this.cores.set(plugin, (peer = new PluginPeer({ plugin, id: 0 }, undefined, (f, err) => this.effectFailed(plugin, f, err))))
    const p = peer
    return {
      replica: () => this.log.replica,
      applied: () => this.log.committed,
      peer: p.peer,
      append: (type, args) => this.propose(plugin, type, args),
      on: (type, fn) => p.on(type, fn),
    }
  }

  /** A core plugin's `coordination` key, once its definition is known. */
  useHandlers(plugin: string, handlers: CoordinationMap | undefined): void {
    this.core(plugin)
    this.cores.get(plugin)!.handlers = handlers
  }

  /** A core plugin is gone (failed to start): it applies and reacts no more. */
  dropCore(plugin: string): void {
    this.cores.delete(plugin)
  }

  // ── entries ──────────────────────────────────────────────────────────────────────────────

  /**
   * A built-in entry, appended by the supervisor: resolves with its seq once durable, or undefined
   * when it was not written (logged, never thrown). In a cluster, entries about plugins and
   * instances name this node.
   */
  builtIn(type: BuiltInType, args: Record<string, unknown>): Promise<number | undefined> {
    const node = this.opts.node && (type.startsWith('plugin/') || type.startsWith('instance/')) ? { node: this.opts.node.id } : {}
    return this.log.append(type, JSON.parse(JSON.stringify({ ...args, ...node }))).then(
      (e) => e.seq,
      (err) => {
        if (errorCode(err) !== 'RIG_ERR_CLOSED') this.opts.log.error({ err, type }, `coordination log: "${type}" not appended: ${errorMessage(err)}`)
        return undefined
      },
    )
  }

  /** The id instance `id` of a plugin has in the log (and in its reactions): unique cluster-wide. */
  peerId(id: number): number {
    return (this.opts.node?.peerBase ?? 0) + id
  }

  /**
   * An entry a plugin proposes (`ctx.coordination.append`, or a reaction with its `cause`).
   * A core plugin's entry is tried first: a throw in its apply, diff or reactions refuses it.
   */
  async propose(plugin: string, type: string, args: unknown, cause?: number): Promise<number> {
    const clean = checkEntry(plugin, type, args)
    const core = this.cores.get(plugin)
    if (core && cause === undefined) this.tryCore(core, type, clean)
    return (await this.log.append(type, clean, cause)).seq
  }

  private tryCore(peer: PluginPeer, type: string, args: unknown): void {
    const old = this.log.replica
    const entry: LogEntry = { seq: this.log.head + 1, type, args, at: 0 }
    const a = applyEntry(old, entry, (p) => (p === peer.peer.plugin ? peer.handlers : undefined))
    const failure = a.failure ?? react(peer.peer.plugin, peer.handlers, entry, old, a.next, a.diff, peer.peer).failure
    if (failure) throw handlerError(peer.peer.plugin, failure, false)
  }

  private committed(entry: LogEntry, old: Replica, next: Replica, diff: unknown): void {
    for (const [plugin, peer] of this.cores) {
      if (!peer.interested(entry.type) || this.failed.has(plugin)) continue
      const { proposals, failure } = peer.after(entry, old, next, diff)
      if (failure) this.handlerFailed(plugin, failure)
      else for (const p of proposals) this.proposeQuietly(plugin, p.type, p.args, entry.seq)
    }
    for (const set of this.replicas.values()) for (const r of set.values()) r.poke()
    if (entry.type === 'plugin/restarted' || entry.type === 'plugin/started') this.failed.delete((entry.args as { plugin: string }).plugin)
  }

  private proposeQuietly(plugin: string, type: string, args: unknown, cause: number): void {
    // At shutdown the log closes while instances still react to their peers leaving: no news.
    this.propose(plugin, type, args, cause).catch((err) => errorCode(err) !== 'RIG_ERR_CLOSED' && this.opts.log.error({ plugin, err, type }, `plugin "${plugin}": the entry "${type}" its reaction to entry ${cause} proposed was refused: ${errorMessage(err)}`))
  }

  // ── worker instances ─────────────────────────────────────────────────────────────────────

  /** Starts replicating to a worker instance that just came up; `joined`: the seq of its `instance/joined`, the first entry it reacts to. */
  attach(plugin: string, id: number, instance: ReplicaHolder, joined: Promise<number | undefined>): void {
    this.detach(plugin, id)
    const r = new Replicator(plugin, instance, this.log, this.opts.snapshotEvery, (reply) => this.reply(plugin, reply))
    let set = this.replicas.get(plugin)
    if (!set) this.replicas.set(plugin, (set = new Map()))
    set.set(id, r)
    Promise.all([this.catchUpPoint(plugin), joined]).then(
      ([p, seq]) => r.start(p, seq ?? this.log.head),
      (err) => this.opts.log.error({ plugin, err }, `coordination log: no catch-up point for "${plugin}": ${errorMessage(err)}`),
    )
  }

  detach(plugin: string, id: number): void {
    this.replicas.get(plugin)?.get(id)?.stop()
    this.replicas.get(plugin)?.delete(id)
  }

  /** The seq instance `id` of `plugin` has applied, if it is replicated. */
  applied(plugin: string, id: number): number | undefined {
    const a = this.replicas.get(plugin)?.get(id)?.applied
    return a === undefined || a < 0 ? undefined : a
  }

  /**
   * Where a new instance starts: the newest snapshot whose namespace for `plugin` is known (it had
   * no entries of its own yet, or an instance reported it), else the empty replica at 0.
   */
  private async catchUpPoint(plugin: string): Promise<{ seq: number; replica: Replica }> {
    const store = this.log.store
    for (const s of await store.snapshots(4)) {
      if (s.seq > this.log.committed) continue
      if (!s.owners.includes(plugin)) return { seq: s.seq, replica: projection(s.replica, plugin) }
      const m = await store.getMeta(plugin, s.seq)
      if (m) return { seq: s.seq, replica: withMeta(projection(s.replica, plugin), plugin, m.meta) }
    }
    return { seq: 0, replica: {} }
  }

  private reply(plugin: string, reply: CoordReply): void {
    for (const s of reply.snapshots) {
      const key = `${plugin}\0${s.seq}`
      if (this.metaStored.has(key)) continue
      this.metaStored.add(key)
      this.log.store.putMeta(plugin, s.seq, s.meta).catch((err) => this.opts.log.warn({ plugin, err }, `coordination log: a snapshot of "${plugin}" not stored: ${errorMessage(err)}`))
    }
    if (this.failed.has(plugin)) return
    const bad = reply.failures.find((f) => f.stage !== 'sideEffects')
    if (bad) return this.handlerFailed(plugin, bad)
    for (const f of reply.failures) this.effectFailed(plugin, f, undefined)
    for (const p of reply.proposals) this.proposeQuietly(plugin, p.type, p.args, p.cause)
  }

  // ── failures, reading ────────────────────────────────────────────────────────────────────

  private handlerFailed(plugin: string, f: HandlerFailure): void {
    if (this.failed.has(plugin)) return
    this.failed.add(plugin)
    this.opts.fail(plugin, handlerError(plugin, f, true))
  }

  private effectFailed(plugin: string, f: HandlerFailure, err: unknown): void {
    this.opts.log.error({ plugin, err, seq: f.seq, type: f.type }, `plugin "${plugin}": its side effect of entry ${f.seq} ("${f.type}") threw: ${f.message}`)
  }

  /** The supervisor's replica, or what a plugin holds (a worker plugin's is asked of an instance). */
  async replica(plugin?: string): Promise<Replica> {
    if (plugin === undefined) return this.log.replica
    if (this.cores.has(plugin)) return projection(this.log.replica, plugin)
    for (const r of this.replicas.get(plugin)?.values() ?? []) {
      const rep = await r.replica().catch(() => undefined)
      if (rep) return rep
    }
    throw new OutriggerError('RIG_ERR_UNKNOWN_PLUGIN', `no running instance of plugin "${plugin}" holds a replica (a worker plugin's namespace lives in its instances; core plugins: ${[...this.cores.keys()].join(', ') || 'none'})`)
  }

  async close(): Promise<void> {
    for (const set of this.replicas.values()) for (const r of set.values()) r.stop()
    await this.log.close()
  }
}

function handlerError(plugin: string, f: HandlerFailure, after: boolean): OutriggerError {
  const what = `plugin "${plugin}": its ${f.stage} of entry "${f.type}"${after ? ` (seq ${f.seq})` : ''} threw: ${f.message}`
  const then = after ? 'every replica skips the entry, and the plugin is marked failed; fix it, then "outrigger restart ' + plugin + '"' : 'the entry was refused and no replica changed'
  return new OutriggerError('RIG_ERR_COORD_HANDLER', `${what}; ${then}`, { details: { plugin, type: f.type, seq: f.seq, stage: f.stage } })
}
