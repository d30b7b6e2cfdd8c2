/**
 * The IPC protocol between a worker host (in the supervisor) and the in-worker runtime.
 *
 * Both sides import this file with `import type` only, so it must never hold values. Every message
 * carries a `code`; a side that receives a code it does not know treats it as a fatal protocol
 * error rather than ignoring it, because a silent mismatch would lose events.
 */
import type { SerializedError } from './errors.js'
import type { WorkerSettings } from './manifest/schema.js'

/** One event as it travels to a worker: `seq` is the dispatcher's, echoed back in the result. */
export interface WireEvent {
  seq: number
  event: string
  /** The key of the plugin's `hooks` to call (the supervisor already did the wildcard matching). */
  subscription: string
  payload: unknown
}

/**
 * The outcome of one event; `ms` is how long its hook ran. `held`: not run, because an earlier
 * event of its `partitionBy` key failed in this instance and the host had not seen that failure
 * when it sent the batch (the event goes back to the host, which keeps it behind the retry);
 * its `error` says so.
 */
export type EventResult =
  | { seq: number; ok: true; ms: number }
  | { seq: number; ok: false; ms: number; error: SerializedError; held?: true }

/**
 * A batch's results, and whether the instance had nothing to run when the batch reached it
 * (`RanMsg.waited`): the dispatcher widens its window when an instance waits with events queued.
 */
export type RunResults = EventResult[] & { waited?: boolean }

/**
 * An instance's memory. V8 keeps heap and external figures per isolate, so a thread's are its own
 * (its RSS would be the whole host's).
 */
export interface MemoryFigures {
  /** The figure held against `limits.memoryMb`. Process: RSS. Thread: `heapMb + externalMb`. */
  memoryMb: number
  /** V8 heap in use. */
  heapMb: number
  /** Memory V8 objects hold outside the heap: Buffers and other ArrayBuffers, mostly. */
  externalMb: number
}

/** What an instance reports about itself when pinged. */
export interface Heartbeat extends MemoryFigures {
  /** p99 of the worker's own event-loop delay since the previous heartbeat. */
  eventLoopP99Ms: number
  /** How long the hook now running has run; 0 when idle. */
  busyMs: number
}

/** Reported once the plugin is loaded and its `init` finished. */
export interface StartInfo {
  hooks: string[]
  functions: string[]
  /** The plugin's sinks: each pattern's batches arrive as events of `sinkSubscription(pattern)`. */
  sinks?: Array<{ pattern: string; max: number; maxWaitMs: number }>
}

/** Everything the runtime needs to start a plugin: the cloneable part of an instance spec. */
export interface WorkerSpec {
  plugin: string
  version: string
  instanceId: number
  entry: string
  rootPath: string
  dataDir: string
  options: unknown
  limits: WorkerSettings['limits']
  callTimeoutMs: number
  /**
   * At-least-once with `partitionBy`: the dotted path of the key. After a hook fails, the runtime
   * holds back the later events of that key it was sent before the host learned of the failure.
   */
  holdKeysBy: string | null
  /** Nice steps the thread running the plugin goes below the host's priority (0: the same). */
  nice: number
  /** `limits.heapSnapshot`: the folder the instance writes its heap snapshot into. */
  heapSnapshotDir?: string
  /** How many instances the plugin runs (`ctx.instance.count`); absent: 1. */
  instanceCount?: number
  /** Its id in the coordination log (`ctx.coordination.peer.id`), unique cluster-wide; absent: `instanceId`. */
  peerId?: number
}

/** comlink traffic, tagged by channel so both directions can share one transport. */
export interface RpcMsg {
  code: 'rpc'
  /**
   * `bridge`: worker calls host services (emit, call, log, and `append` to the coordination log). `state`: the worker calls the plugin's
   * `ctx.state` object itself, served by the host. `fn`: host calls the plugin's functions (`call`), its `whenReady` (`ready`),
   * and hands it coordination log entries (`coord`: a `CoordBatch`, answered with a `CoordReply`).
   */
  ch: RpcChannel
  data: unknown
}
export type RpcChannel = 'bridge' | 'state' | 'fn'

// Host → worker. In a thread, start and stop travel as piscina tasks and `port` carries the rest
// (run, ping, rpc); in a child process, everything shares the IPC channel.
export interface StartMsg { code: 'start'; spec: WorkerSpec; port?: unknown }
/**
 * `seen`: how many of this instance's failed events the host had taken in when it sent the batch
 * (the runtime numbers its failures the same way; see `holdKeysBy`).
 */
export interface RunMsg { code: 'run'; id: number; batch: WireBatch; seen: number }

/**
 * A batch on the wire, by columns: the payloads, and each event's name and subscription as two
 * indexes into `names` (the few distinct names of the batch, sent once). One object and two
 * strings per event cost about as much to clone, both ways, as a small payload; the worker
 * rebuilds `WireEvent`s from this, and `seq` there is the event's position in the batch (the
 * host matches results to its own copy of the batch).
 */
export interface WireBatch {
  names: string[]
  /** `refs[2i]`: event i's name, `refs[2i + 1]`: its subscription, both indexes into `names`. */
  refs: number[]
  payloads: unknown[]
}
export interface StopMsg { code: 'stop' }
export interface PingMsg { code: 'ping'; id: number }

// Worker → host.
export interface StartedMsg { code: 'started'; info: StartInfo }
export interface StartFailedMsg { code: 'start-failed'; error: SerializedError }
/**
 * A batch's outcome on the wire: the hook time of every event, in batch order, and the few that
 * failed. The host rebuilds `EventResult`s from its own copy of the batch; sending one object per
 * event back would cost as much cloning as the events themselves.
 */
export interface RanMsg {
  code: 'ran'
  id: number
  ms: Float64Array
  failures: BatchFailure[]
  held: number[]
  /** The runtime had no batch running or waiting when this one arrived: the instance waited for work. */
  waited?: boolean
}
export interface BatchFailure { i: number; error: SerializedError }
export interface StoppedMsg { code: 'stopped'; error?: SerializedError }
export interface PongMsg { code: 'pong'; id: number; heartbeat: Heartbeat }
/**
 * Sent unasked by a thread that finds itself past `limits.memoryMb` between heartbeats. `halted`:
 * it grew so far past it that it runs no more hooks, and waits to be ended.
 */
export interface OverLimitMsg { code: 'over-limit'; memory: MemoryFigures; halted: boolean }
/**
 * `limits.heapSnapshot`: the instance crossed 90 % of `limits.memoryMb` and writes (`writing`;
 * it answers no heartbeat until done) or wrote (`written`, `failed`) its one heap snapshot.
 */
export interface HeapSnapshotMsg { code: 'heap-snapshot'; phase: 'writing' | 'written' | 'failed'; file: string; memory: MemoryFigures; error?: string }
/** Sent by a child process just before it exits on an uncaught error. */
export interface FatalMsg { code: 'fatal'; error: SerializedError }

export type HostToWorker = StartMsg | RunMsg | StopMsg | PingMsg | RpcMsg
export type WorkerToHost = StartedMsg | StartFailedMsg | RanMsg | StoppedMsg | PongMsg | OverLimitMsg | HeapSnapshotMsg | FatalMsg | RpcMsg

/** The methods the host exposes on the `bridge` channel (mirrors `HostBridge`). */
export type BridgeMethod = 'emit' | 'emitBatch' | 'drained' | 'deadLetter' | 'call' | 'log' | 'append'

/**
 * Every exposed rpc method answers with this envelope instead of throwing, because comlink's own
 * error transfer drops `code` and `cause`, which our errors must keep across the boundary.
 */
export type RpcReply = { ok: true; value: unknown } | { ok: false; error: SerializedError }
