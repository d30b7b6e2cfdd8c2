import type { ClusterReport } from '../cluster/report-types.js'
import type { LetterSelection, PurgeResult, ReplayResult } from '../delivery/dead-letters.js'
import type { Coordinator } from '../coordination/coordinator.js'
import type { StateStore } from '../plugin/state-store.js'
import type { PluginLogger, ServiceProviders } from '../plugin/types.js'
import type { HostConfig, HostConfigInput } from '../config/config.js'
import type { StatusReport } from './status-types.js'
import type { Envelope } from '../protocol/envelope.js'
import type { ExecuteOptions, ExecuteRequest } from '../protocol/execute.js'
import type { ProfileOptions } from '../diagnostics/profile-options.js'
import type { ProfileReport } from '../supervision/instance-diagnostics.js'

export interface SupervisorOptions {
  /** Names the control socket (`<runtimeDir>/<app>.sock`) and the logs. Default `outrigger`. */
  app?: string
  /** Default: the config's `pluginsDir`, else `./plugins/enabled`. */
  pluginsDir?: string
  /** A path to `outrigger.config.json`, or the config object itself. */
  config?: string | HostConfigInput
  /** Default: the config's `stateDir`, else `./.outrigger/state`. */
  stateDir?: string
  /** The control socket for the CLI; `false` turns it off (plain library use). */
  control?: boolean | { runtimeDir?: string }
  /** The HTTP API; `false` turns it off. */
  http?: boolean | { port?: number; host?: string }
  /** Refuse to start when any plugin fails to load or init. */
  strict?: boolean
  /**
   * The state store: the embedded durable one (default), an in-memory one (tests, throwaway
   * hosts), or a store of the host's own, which the supervisor uses but never closes. A core
   * plugin that provides the storage slot wins over this option.
   */
  store?: 'lmdb' | 'memory' | StateStore
  /** A Redis URL that puts this host in a cluster (`outrigger start --cluster URL`); overrides `cluster.redis` of the config. */
  cluster?: string
  /** Replace the default logger (pino at `config.logLevel`). */
  logger?: PluginLogger
  /**
   * Handle the process's `uncaughtException` and `unhandledRejection` by the host config's
   * `hostErrors` policy: isolate the core plugin to blame, or stop gracefully and exit 1. Default
   * false: a library leaves its host's process alone (`outrigger start` turns it on). The
   * handlers are removed when the supervisor stops.
   */
  handleProcessErrors?: boolean
}

/** What `isolate` did with an error blamed on a plugin (src/supervision/host-errors.ts). */
export type IsolateOutcome = 'isolated' | 'again' | 'foreign' | 'slot'

/** A dead letter: an at-least-once event that ran out of attempts (or could not be drained). */
export interface DeadLetter {
  id: string
  plugin: string
  event: string
  subscription: string
  payload: unknown
  attempts: number
  error: { code: string | null; message: string } | null
  at: string
}

/** What `sup.reload` answers. */
export interface ReloadResult {
  plugin: string
  /** The version that ran before, and the one that runs now. */
  from: string
  to: string
  /** Worker plugins: how many instances now run the new code (0 for a core plugin). */
  instances: number
  /** From the request to the last instance handed over. */
  ms: number
}

/** What the HTTP API needs to answer a controller action (Kuzzle's request life cycle). */
export interface ActionTarget {
  plugin: string
  controller: string
  action: string
}

export interface Supervisor {
  readonly app: string
  readonly config: HostConfig
  readonly log: PluginLogger
  /** Returns at once; never waits for a listener. Throws RIG_ERR_CLOSED once stopping. */
  emit(event: string, payload?: unknown): void
  /**
   * `emit`, then resolves once the event is committed to the journal of every durable worker
   * plugin it was routed to; at once when it reached no durable plugin. Rejects with
   * RIG_ERR_NOT_CLONEABLE when a journal refused the payload, RIG_ERR_JOURNAL when a journal failed.
   */
  emitDurable(event: string, payload?: unknown): Promise<void>
  /**
   * Resolves once every event emitted so far is committed to the journals of durable worker
   * plugins (hurrying their group commits). Rejects with RIG_ERR_JOURNAL when a journal failed.
   */
  flush(): Promise<void>
  /** The pipe chain's result, or throws (RIG_ERR_PIPE_ABORTED naming the plugin). */
  pipe<T = unknown>(event: string, payload: T): Promise<T>
  /** Calls `plugin.function`, core or worker. */
  call<R = unknown>(target: string, args?: unknown): Promise<R>
  /**
   * The request path of every entry point (src/protocol/execute.ts): auth and permission slots,
   * the `before`, `after` and `error` pipes, the action, the hooks, `http.actionTimeoutMs`.
   * Answers the envelope; never throws.
   */
  execute(request: ExecuteRequest, opts?: ExecuteOptions): Promise<Envelope>
  /** Every controller action as `plugin/controller/action`. */
  routes(): string[]
  status(): StatusReport
  /** The coordination log (docs/coordination.md): its entries, the replica, each instance's. */
  readonly coordination: Coordinator
  /**
   * Every node of the cluster as its Redis knows it (docs/cluster.md). Rejects with
   * RIG_ERR_CLUSTER_REQUIRED on a host without a cluster, RIG_ERR_CLUSTER_UNREACHABLE while Redis is down.
   */
  clusterStatus(): Promise<ClusterReport>
  /**
   * Where a plugin was loaded from: its real folder, and whether that lies outside the plugins
   * folder and its sibling `available/` (reached through a symlink). Undefined for an unknown name.
   */
  pluginFolder(name: string): { path: string; outside: boolean } | undefined
  /**
   * Operator restart: brings a quarantined, failed or running worker plugin back up, reading it
   * afresh (a plugin that failed to load is read from disk again). A core plugin is refused with
   * RIG_ERR_NOT_RESTARTABLE: it shares the host's module cache and event loop.
   */
  restartPlugin(name: string): Promise<void>
  /**
   * A CPU profile of a worker plugin's instance (default: its first running one) for `seconds`
   * (default: `limits.profileMs`, else 2), written under `<stateDir>/profiles` (docs/diagnostics.md).
   * Rejects RIG_ERR_PROFILE_UNAVAILABLE (a core plugin, no such instance, no inspector) or RIG_ERR_PROFILE_FAILED.
   */
  profile(plugin: string, opts?: ProfileOptions): Promise<ProfileReport>
  /**
   * Live reload (docs/reload.md): reads the plugin's manifest, config section and code from disk
   * again. A worker plugin rolls its instances one at a time, each new one ready before an old one
   * hands over, without losing or doubling an event; a core plugin must say `"reloadable": true`.
   * Rejects RIG_ERR_RELOAD_FAILED (the old code keeps serving), RIG_ERR_RELOAD_REFUSED or
   * RIG_ERR_NOT_RESTARTABLE.
   */
  reload(name: string): Promise<ReloadResult>
  /** Loads and starts a plugin of the plugins folder that is not running yet (`plugins enable --now`). */
  startPlugin(name: string): Promise<void>
  /** Takes a plugin off the bus, drains it, closes it and removes it (`plugins disable --now`). */
  stopPlugin(name: string): Promise<void>
  listDeadLetters(plugin: string): Promise<DeadLetter[]>
  /**
   * Re-enqueues a plugin's dead letters (all, or `sel.ids`, at most `sel.limit`), oldest first,
   * while its queue has room. A letter stays until its event is accepted: a full queue or a
   * stopped plugin ends the replay (`halted`) and the rest stay dead letters (`left`).
   */
  replayDeadLetters(plugin: string, sel?: LetterSelection): Promise<ReplayResult>
  /** Deletes a plugin's dead letters: all, `sel.ids`, or those stored before `sel.before` (ISO time). */
  purgeDeadLetters(plugin: string, sel?: LetterSelection): Promise<PurgeResult>
  /** The auth and permission slots (defaults or a core plugin's replacement). */
  readonly services: Required<Pick<ServiceProviders, 'auth' | 'permission'>>
  /**
   * Registers a step for the end of `stop()`, after every plugin closed. Steps run last
   * registered first: a server started after another closes before it.
   */
  onClose(close: () => Promise<void>): void
  /**
   * Tells `sink` the duration of every handler run (hook, pipe) of every plugin, from now on, in
   * milliseconds. Returns the function that stops it.
   */
  observeHandlers(sink: (plugin: string, ms: number) => void): () => void
  /** Drain, close plugins in reverse order, stop workers. Idempotent. */
  stop(): Promise<void>
}
