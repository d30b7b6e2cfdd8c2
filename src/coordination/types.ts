/**
 * The coordination log's shapes, shared by the supervisor and the worker runtime (host-free: no
 * imports but types). Onyx's model: an ordered log of entries, and a replica that every peer
 * builds by applying them in order from `{}`.
 */

/** One entry of the log. `seq` starts at 1 and has no gaps; `at` is the append time (ms). */
export interface LogEntry {
  seq: number
  type: string
  args: unknown
  at: number
}

/** What the supervisor's built-in entries build, under `replica.plugins[name]`. */
export interface PluginRecord {
  state: 'started' | 'failed' | 'quarantined' | 'stopped'
  /** The seq of the entry that set `state`. */
  since: number
  restarts: number
  lastError: { code: string | null; message: string } | null
  /** The live instances, by instance id. */
  instances: Record<string, InstanceRecord>
}

export interface InstanceRecord {
  id: number
  pid: number
  /** A thread instance's thread id (its pid is the host's); 0 for a child process. */
  threadId: number
  /** The seq of its `instance/joined`. */
  joined: number
  /** In a cluster: the node it runs on (instance ids are then unique cluster-wide). */
  node?: string
}

/** What a cluster's own entries build, under `replica.cluster` (cluster-builtin.ts). */
export interface ClusterRecord {
  /** The nodes in the cluster, with the seq of their `node/joined`. */
  nodes: Record<string, { since: number }>
  /** For each `partitionBy` cluster plugin: which node serves each partition. */
  partitions: Record<string, Record<string, string>>
}

/**
 * The replica: plain JSON, deep-frozen. `plugins` is the supervisor's (built-in entries); each
 * plugin's own data lives in `meta[<plugin>]`. In a worker instance, `meta` holds its own plugin's
 * namespace only: it has no other plugin's code to apply their entries with.
 */
export interface Replica {
  readonly plugins?: Readonly<Record<string, Readonly<PluginRecord>>>
  readonly meta?: Readonly<Record<string, unknown>>
  /** In a cluster only: its nodes and the partitions they serve. */
  readonly cluster?: Readonly<ClusterRecord>
}

/** Who runs a reaction: a worker instance, or a core plugin (id 0). */
export interface Peer {
  plugin: string
  id: number
}

/** An entry a reaction or a plugin proposes: the supervisor assigns its seq. */
export interface Proposal {
  type: string
  args: unknown
}

/**
 * A plugin's four extension points for one entry type (Onyx's apply-log-entry, replica-diff,
 * reactions and fire-side-effects!). `apply`, `diff` and `reactions` must be pure and
 * deterministic: every instance runs them on the same entries and must reach the same result.
 */
export interface CoordinationHandler<Args = any, Meta = any, Diff = any, State = any> {
  /**
   * The plugin's namespace after the entry: given the entry's args, the replica before it (frozen;
   * `replica.meta[<plugin>]` is the namespace now), returns the new namespace value. Only the
   * plugin's own types may have one.
   */
  apply?(args: Args, replica: Replica): Meta
  /** What changed, for reactions and side effects. Own types only. Default: null. */
  diff?(args: Args, old: Replica, next: Replica): Diff
  /** Entries this peer proposes in answer to the entry. Runs in every instance. */
  reactions?(args: Args, old: Replica, next: Replica, diff: Diff, peer: Peer): Proposal[] | undefined | void
  /**
   * Side effects in the instance the entry concerns, after it is applied: start or stop work.
   * Gets and returns the instance's local state (anything; kept in memory only).
   */
  sideEffects?(args: Args, old: Replica, next: Replica, diff: Diff, state: State): State | Promise<State> | void
}

/** A definition's `coordination` key: handlers by entry type (`<plugin>/<type>` or a built-in type). */
export type CoordinationMap = Record<string, CoordinationHandler>

/** `ctx.coordination`: the same in core and worker plugins. */
export interface CoordinationApi {
  /** The replica as this instance has applied it (frozen). */
  replica(): Replica
  /** The seq of the last entry this instance applied. */
  applied(): number
  /** Who this is: the plugin and the instance id (0 for a core plugin), as reactions get it. */
  readonly peer: Peer
  /** Appends an entry of one of the plugin's own types; resolves with its seq once it is in the log. */
  append(type: string, args?: unknown): Promise<number>
  /** A side effect for `type` (a convenience over `coordination[type].sideEffects`); returns its removal. */
  on(type: string, fn: (args: any, change: { old: Replica; next: Replica; diff: unknown; entry: LogEntry }) => unknown): () => void
}

/** A batch of entries sent to an instance; `reset` replaces its replica first (catch-up from a snapshot). */
export interface CoordBatch {
  reset?: { seq: number; replica: Replica }
  entries: LogEntry[]
  /** The seq the instance stands at after the batch (entries of other plugins are not sent). */
  upTo: number
  /**
   * With `reset`: the first seq the instance reacts to (its own `instance/joined`). What came
   * before it joined is applied, not reacted to: the instances that were there did that.
   */
  reactFrom?: number
  /** Asks for the instance's replica in the reply. */
  wantReplica?: boolean
  /** The supervisor snapshots every `snapshotEvery` entries: the instance reports its namespace at those seqs. */
  snapshotEvery: number
}

/** A failure of a plugin's handler while applying or reacting to one entry. */
export interface HandlerFailure {
  seq: number
  type: string
  stage: 'apply' | 'diff' | 'reactions' | 'sideEffects'
  message: string
}

/** What an instance answers to a batch. */
export interface CoordReply {
  /** The seq it has applied up to (the batch's last). */
  applied: number
  /** What its reactions propose, each with the seq of the entry that caused it. */
  proposals: Array<Proposal & { cause: number }>
  failures: HandlerFailure[]
  /** Its namespace at each snapshot seq it passed (undefined: none). */
  snapshots: Array<{ seq: number; meta: unknown }>
  replica?: Replica
}
