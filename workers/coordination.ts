/**
 * An instance's own replica of the coordination log: it applies the built-in entries and its own
 * plugin's, in the order the supervisor sends them, runs its reactions (proposed back in the
 * reply) and its side effects (after the entry is applied, in the instance concerned). Other
 * plugins' namespaces are not here: this instance has none of their code.
 */
import { OutriggerError } from '../src/errors.js'
import { checkEntry } from '../src/coordination/entry.js'
import { PluginPeer } from '../src/coordination/peer.js'
import { applyEntry, deepFreeze, EMPTY_REPLICA, react } from '../src/coordination/replica.js'
import type { CoordBatch, CoordinationApi, CoordinationMap, CoordReply, LogEntry, Replica } from '../src/coordination/types.js'
import type { RemoteCall } from '../src/rpc-link.js'

export class WorkerCoordination {
  private current: Replica = EMPTY_REPLICA
  private seq = 0
  private reactFrom = 0
  private readonly peer: PluginPeer
  readonly api: CoordinationApi

  constructor(private readonly plugin: string, id: number, bridge: RemoteCall, warn: (msg: string, err: unknown) => void) {
    this.peer = new PluginPeer({ plugin, id }, undefined, (f, err) => warn(`side effect of entry ${f.seq} ("${f.type}") threw: ${f.message}`, err))
    this.api = Object.freeze({
      replica: () => this.current,
      applied: () => this.seq,
      peer: Object.freeze({ plugin, id }),
      append: async (type: string, args?: unknown) => {
        const clean = checkEntry(plugin, type, args)
        this.tryOwn(type, clean)
        return bridge('append', [type, clean]) as Promise<number>
      },
      on: (type: string, fn: Parameters<CoordinationApi['on']>[1]) => this.peer.on(type, fn),
    })
  }

  /** The definition's `coordination` key, once the entry is loaded. */
  use(handlers: CoordinationMap | undefined): void {
    this.peer.handlers = handlers
  }

  /**
   * An own entry is tried against this replica before it is proposed: a throw in its apply, diff
   * or reactions refuses it here, and the log never holds it.
   */
  private tryOwn(type: string, args: unknown): void {
    const entry: LogEntry = { seq: this.seq + 1, type, args, at: 0 }
    const handlers = this.peer.handlers
    const a = applyEntry(this.current, entry, (p) => (p === this.plugin ? handlers : undefined))
    const f = a.failure ?? react(this.plugin, handlers, entry, this.current, a.next, a.diff, this.peer.peer).failure
    if (f) throw new OutriggerError('RIG_ERR_COORD_HANDLER', `plugin "${this.plugin}": its ${f.stage} of entry "${type}" threw: ${f.message}; the entry was refused and no replica changed`, { details: { plugin: this.plugin, type, stage: f.stage } })
  }

  /** Applies a batch the supervisor sent, in order; never throws. */
  apply(batch: CoordBatch): CoordReply {
    if (batch.reset) {
      this.current = deepFreeze(batch.reset.replica)
      this.seq = batch.reset.seq
      this.reactFrom = batch.reactFrom ?? 0
    }
    const every = batch.snapshotEvery
    const reply: CoordReply = { applied: this.seq, proposals: [], failures: [], snapshots: [] }
    const handlers = this.peer.handlers
    for (const e of batch.entries) {
      if (e.seq <= this.seq) continue
      this.snapshotBefore(e.seq, every, reply)
      const old = this.current
      const a = applyEntry(old, e, (p) => (p === this.plugin ? handlers : undefined))
      this.seq = e.seq
      if (a.failure) {
        reply.failures.push(a.failure)
        continue
      }
      this.current = a.next
      if (e.seq < this.reactFrom || !this.peer.interested(e.type)) continue
      const r = this.peer.after(e, old, a.next, a.diff)
      if (r.failure) reply.failures.push(r.failure)
      for (const p of r.proposals) reply.proposals.push({ ...p, cause: e.seq })
    }
    this.snapshotBefore(batch.upTo + 1, every, reply)
    this.seq = Math.max(this.seq, batch.upTo)
    reply.applied = this.seq
    if (batch.wantReplica) reply.replica = this.current
    return reply
  }

  /**
   * The supervisor cannot compute this plugin's namespace, so the instance reports it at the
   * snapshot seqs it passes. Between two applied entries it does not change: the last snapshot seq
   * before `next` is enough.
   */
  private snapshotBefore(next: number, every: number, reply: CoordReply): void {
    const at = Math.floor((next - 1) / every) * every
    if (at > 0 && at >= this.seq && at > (reply.snapshots.at(-1)?.seq ?? 0)) {
      reply.snapshots.push({ seq: at, meta: this.current.meta?.[this.plugin] })
    }
  }
}
