import type { Bus } from '../bus/bus.js'
import type { ClusterPlacement } from '../cluster/placement.js'
import type { HostConfig } from '../config/config.js'
import type { PluginContext, PluginLogger } from '../plugin/types.js'
import type { StateStore } from '../plugin/state-store.js'
import type { Backpressure } from './backpressure.js'
import type { PluginStatus } from './status-types.js'
import type { Envelope } from '../protocol/envelope.js'
import type { Coordinator } from '../coordination/coordinator.js'

/** What every plugin handle gets from the supervisor. */
export interface SupervisorRuntime {
  app: string
  config: HostConfig
  bus: Bus
  log: PluginLogger
  stateDir: string
  /** Set once the storage slot is resolved (before any plugin starts). */
  store: StateStore
  emit(event: string, payload: unknown): void
  call(target: string, args: unknown): Promise<unknown>
  /** `ctx.execute`: the request path of src/protocol/execute.ts. */
  execute(request: unknown): Promise<Envelope>
  /** Which worker plugins' queues are full, for `ctx.emit`'s answer and `ctx.drained()`. */
  pressure: Backpressure
  /** Aborted at shutdown; every ctx.signal follows it. */
  signal: AbortSignal
  /**
   * Set when someone acts on blame (the host error policy): core plugin calls then run named,
   * with this as the owner (src/supervision/blame.ts). Undefined: plain calls.
   */
  blame?: object
  /** The coordination log (src/coordination/); absent where no supervisor keeps one. */
  coordination?: Coordinator
  /** The cluster this host is a node of (host config `cluster`); where `placement: "cluster"` plugins go. */
  cluster?: ClusterPlacement
}

/** One loaded plugin, core or worker, as the supervisor drives it. */
export interface PluginHandle {
  readonly name: string
  readonly type: 'core' | 'worker'
  /** Spawns instances (worker) or runs init (core). Throws to mark the plugin failed. */
  start(): Promise<void>
  /** whenReady (core); nothing for workers. */
  ready(): Promise<void>
  /** Stops intake-side work: workers drain their queues until the deadline. */
  drain(deadline: number): Promise<void>
  /** close (core) / stop instances (worker). */
  close(): Promise<void>
  call(fn: string, args: unknown): Promise<unknown>
  status(): PluginStatus
  /** Where its handler durations go besides its own p50/p99 (the /metrics histogram). */
  readonly latency?: { sink: ((ms: number) => void) | undefined }
  /** Marks the plugin failed with its error (load, init or start failure). */
  fail(error: unknown): void
}

export type ContextFactory = (name: string, version: string, rootPath: string, options: unknown) => PluginContext
export type { PluginLogger }
