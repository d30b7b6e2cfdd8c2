/**
 * One plugin's part in the log, wherever it runs (a worker instance, or a core plugin in the
 * host): its reactions, run on every applied entry, and its side effects, run in order after the
 * entry is applied, in the instance it concerns. Host-free.
 */
import { concerns, react } from './replica.js'
import type { CoordinationApi, CoordinationMap, HandlerFailure, LogEntry, Peer, Proposal, Replica } from './types.js'

type Listener = Parameters<CoordinationApi['on']>[1]

export class PluginPeer {
  /** The state `sideEffects` hand on from one to the next (Onyx's peer state). */
  private state: unknown = {}
  private readonly listeners = new Map<string, Set<Listener>>()
  /** Side effects run one after another, in log order, off the apply path. */
  private effects: Promise<void> = Promise.resolve()

  constructor(
    readonly peer: Peer,
    public handlers: CoordinationMap | undefined,
    /** Told when a side effect throws (they run after the reply, so nobody else can be). */
    private readonly effectFailed: (f: HandlerFailure, err: unknown) => void,
  ) {}

  on(type: string, fn: Listener): () => void {
    let set = this.listeners.get(type)
    if (!set) this.listeners.set(type, (set = new Set()))
    set.add(fn)
    return () => void set.delete(fn)
  }

  /** Whether this plugin does anything with entries of `type`. */
  interested(type: string): boolean {
    return this.handlers?.[type] !== undefined || (this.listeners.get(type)?.size ?? 0) > 0
  }

  /** After `entry` was applied: the reactions' proposals now, the side effects queued. */
  after(entry: LogEntry, old: Replica, next: Replica, diff: unknown): { proposals: Proposal[]; failure?: HandlerFailure } {
    const out = react(this.peer.plugin, this.handlers, entry, old, next, diff, this.peer)
    if (!out.failure && concerns(entry, this.peer)) this.queueEffects(entry, old, next, diff)
    return out
  }

  /** Resolves once every side effect queued so far has run. */
  settled(): Promise<void> {
    return this.effects
  }

  private queueEffects(entry: LogEntry, old: Replica, next: Replica, diff: unknown): void {
    const fn = this.handlers?.[entry.type]?.sideEffects
    const listeners = this.listeners.get(entry.type)
    if (!fn && !listeners?.size) return
    const fail = (err: unknown) => this.effectFailed({ seq: entry.seq, type: entry.type, stage: 'sideEffects', message: (err as Error)?.message ?? String(err) }, err)
    this.effects = this.effects.then(async () => {
      if (fn) {
        try {
          const s = await fn(entry.args, old, next, diff, this.state)
          if (s !== undefined) this.state = s
        } catch (err) {
          fail(err)
        }
      }
      for (const l of listeners ?? []) {
        try {
          await l(entry.args, { old, next, diff, entry })
        } catch (err) {
          fail(err)
        }
      }
    })
  }
}
