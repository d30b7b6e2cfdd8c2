/**
 * Applying one entry to a replica, and asking a plugin's reactions about it: the same code in the
 * supervisor and in every worker instance, so their replicas agree. Pure and host-free.
 *
 * A replica is deep-frozen and never mutated: an entry yields a new replica that shares every
 * untouched branch. So a plugin's `apply` that throws halfway leaves nothing behind, and a
 * plugin that tries to change the replica in place fails loudly instead of diverging.
 */
import { applyBuiltIn, isBuiltIn, withMetaMap } from './builtin.js'
import { ownerOf } from './entry.js'
import type { CoordinationMap, HandlerFailure, LogEntry, Peer, Proposal, Replica } from './types.js'

export const EMPTY_REPLICA: Replica = Object.freeze({})

/** Freezes `v` and everything below it that is not frozen yet (a frozen branch is shared and done). */
export function deepFreeze<T>(v: T): T {
  if (v === null || typeof v !== 'object' || Object.isFrozen(v)) return v
  Object.freeze(v)
  for (const k of Object.keys(v as object)) deepFreeze((v as Record<string, unknown>)[k])
  return v
}

/** An entry applied: the replica after it and the diff; `failure` when the owner's apply or diff threw. */
export interface Applied {
  next: Replica
  diff: unknown
  failure?: HandlerFailure & { plugin: string }
}

/**
 * Applies `entry`: built-in types by the supervisor's rules; a plugin's own type by its `apply`
 * when `handlersOf(owner)` knows the plugin (else the entry changes nothing here). A throwing
 * `apply` or `diff` leaves the replica as it was: every peer throws alike, so none applies it.
 */
export function applyEntry(replica: Replica, entry: LogEntry, handlersOf: (plugin: string) => CoordinationMap | undefined): Applied {
  if (isBuiltIn(entry.type)) return { next: deepFreeze(applyBuiltIn(replica, entry)), diff: null }
  const owner = ownerOf(entry.type)
  const h = handlersOf(owner)?.[entry.type]
  if (!h?.apply) return { next: replica, diff: null }
  let stage: 'apply' | 'diff' = 'apply'
  try {
    const value = deepFreeze(h.apply(entry.args, replica))
    const next = deepFreeze(withMeta(replica, owner, value))
    stage = 'diff'
    const diff = h.diff ? deepFreeze(h.diff(entry.args, replica, next)) : null
    return { next, diff: diff === undefined ? null : diff }
  } catch (err) {
    return { next: replica, diff: null, failure: { plugin: owner, seq: entry.seq, type: entry.type, stage, message: (err as Error)?.message ?? String(err) } }
  }
}

/** The replica with `meta[plugin]` set to `value` (removed when undefined). */
export function withMeta(replica: Replica, plugin: string, value: unknown): Replica {
  const { [plugin]: _old, ...others } = replica.meta ?? {}
  return withMetaMap(replica, value === undefined ? others : { ...others, [plugin]: value })
}

/** A plugin's reactions to an applied entry: the entries it proposes, or the failure of its `reactions`. */
export function react(
  plugin: string, handlers: CoordinationMap | undefined, entry: LogEntry, old: Replica, next: Replica, diff: unknown, peer: Peer,
): { proposals: Proposal[]; failure?: HandlerFailure } {
  const fn = handlers?.[entry.type]?.reactions
  if (!fn) return { proposals: [] }
  try {
    const out = fn(entry.args, old, next, diff, peer) ?? []
    if (!Array.isArray(out)) throw new TypeError(`reactions must return an array of { type, args }, got ${typeof out}`)
    for (const p of out) {
      if (p === null || typeof p !== 'object' || typeof p.type !== 'string') throw new TypeError('reactions must return an array of { type, args }')
    }
    return { proposals: out.map((p) => ({ type: p.type, args: p.args ?? null })) }
  } catch (err) {
    return { proposals: [], failure: { seq: entry.seq, type: entry.type, stage: 'reactions', message: (err as Error)?.message ?? String(err) } }
  }
}

/**
 * Whether an entry concerns instance `me`: its args name a plugin (`plugin`, else the type's owner)
 * and an instance (`instance`, or `id` for `instance/*`). An entry about another plugin, or that
 * names no instance, concerns every instance.
 */
export function concerns(entry: LogEntry, me: Peer): boolean {
  const a = (entry.args ?? {}) as { plugin?: unknown; instance?: unknown; id?: unknown }
  const plugin = typeof a.plugin === 'string' ? a.plugin : ownerOf(entry.type)
  if (plugin !== me.plugin) return true
  const id = a.instance ?? (entry.type.startsWith('instance/') ? a.id : undefined)
  return typeof id !== 'number' || id === me.id
}

/** What an instance of `plugin` holds: the built-in records (plugins, cluster), and its own namespace only. */
export function projection(replica: Replica, plugin: string): Replica {
  const own = replica.meta?.[plugin]
  const out: Replica = { ...(replica.plugins ? { plugins: replica.plugins } : {}), ...(replica.cluster ? { cluster: replica.cluster } : {}) }
  return deepFreeze(own === undefined ? out : { ...out, meta: { [plugin]: own } })
}
