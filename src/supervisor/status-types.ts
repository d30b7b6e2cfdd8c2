import type { BrokenVersion } from '../manifest/discovery.js'
import type { SinkCounters } from '../delivery/sink-batcher.js'
/** The status report (DESIGN.md §5, Contract): `sup.status()`, `outrigger status --json`, `GET /_status`. */

export type SupervisorState = 'starting' | 'running' | 'stopping'
export type Health = 'healthy' | 'degraded' | 'unhealthy'
export type PluginState = 'starting' | 'running' | 'degraded' | 'restarting' | 'quarantined' | 'failed' | 'stopped'
export type InstanceState = 'starting' | 'running' | 'unresponsive' | 'restarting' | 'stopped'

export interface InstanceStatus {
  id: number
  pid: number
  threadId: number
  state: InstanceState
  uptimeMs: number
  restarts: number
  /** What is held against `limits.memoryMb`: a child's RSS; a thread's heap plus external memory. */
  memoryMb: number
  /** V8 heap in use. */
  heapMb: number
  /** Memory outside the V8 heap held by its objects (Buffers, ArrayBuffers). */
  externalMb: number
  eventLoopP99Ms: number
  lastHeartbeatMs: number
  /** Why the supervisor last ended this instance id for a fault (a hang), with its CPU profile. */
  lastError?: InstanceError | null
  /** The newest CPU profile of this instance id (a hang's, or one taken on demand): a file path. */
  profile?: string | null
  /** The heap snapshot it wrote near its memory limit (`limits.heapSnapshot`): a file path. */
  heapSnapshot?: string | null
  /** The coordination log seq this instance has applied (behind `log.head`: a lagging replica). */
  appliedSeq?: number
}

/** An instance's `lastError`: `profile` names the CPU profile taken before it was killed, when there is one. */
export interface InstanceError {
  code: string | null
  message: string
  profile: string | null
}

export interface QueueStatus {
  depth: number
  max: number
  dropped: number
  rejected: number
}

export interface EventCounters {
  received: number
  processed: number
  failed: number
  inFlight: number
  redelivered: number
  /** Durable: entries an earlier run left in the journal, read back (and received) in this run. */
  recovered: number
  deadLettered: number
  lost: number
}

export interface PluginStatus {
  name: string
  version: string
  type: 'core' | 'worker'
  isolation: 'inline' | 'thread' | 'process'
  delivery: 'at-most-once' | 'at-least-once' | 'durable'
  state: PluginState
  hooks: string[]
  pipes: string[]
  controllers: string[]
  functions: string[]
  shadowed: string[]
  /** Which of `shadowed` are broken, and why (set by the status report). */
  shadowedBroken?: BrokenVersion[]
  restarts: number
  lastError: { code: string | null; message: string } | null
  queue: QueueStatus
  events: EventCounters
  handlerMs: { p50: number; p99: number }
  instances: InstanceStatus[]
  /** Only for a process-isolated plugin under `worker.permissions`: the Node flags confining its children. */
  permissions?: { flags: string[] }
  /** Per sink pattern, for a plugin that has sinks (absent otherwise). A sink batch counts as one event in `events`. */
  sinks?: Record<string, SinkCounters>
}

export interface StatusReport {
  app: string
  version: string
  pid: number
  uptimeMs: number
  state: SupervisorState
  health: Health
  eventLoop: { p50Ms: number; p99Ms: number; maxMs: number; utilization: number }
  memory: { rssMb: number; heapUsedMb: number }
  /** The host's own output: lines dropped because stdout/stderr could not take them. */
  logs: { dropped: number }
  /** The coordination log: the last seq appended, and the last one durable. */
  log?: { head: number; committed: number }
  plugins: PluginStatus[]
}
