/**
 * The contract between the dispatcher and one running worker instance, whatever isolates it.
 * Two adapters implement it (`thread-host.ts`, `process-host.ts`); `select.ts` picks one.
 */
import type { Permissions } from '../manifest/permissions.js'
import type { StateApi } from '../plugin/types.js'
import type { CoordBatch, CoordReply } from '../coordination/types.js'
import type { ProfileWritten } from '../diagnostics/cpu-profile.js'
import type { EventResult, HeapSnapshotMsg, Heartbeat, MemoryFigures, StartInfo, WireEvent, WorkerSpec } from '../worker-protocol.js'

export type { EventResult, HeapSnapshotMsg, Heartbeat, MemoryFigures, RunResults, StartInfo, WireEvent } from '../worker-protocol.js'
export type { ProfileWritten } from '../diagnostics/cpu-profile.js'

/** Host-side services a worker's `ctx` reaches over rpc. One bridge per instance is fine. */
export interface HostBridge {
  /** The plugin's `ctx.state`, served as it is: the worker calls its methods by name. */
  state: StateApi
  /** `ctx.emit`: fire-and-forget. */
  emit(event: string, payload: unknown): void
  /**
   * Many `ctx.emit`s of one instance in one message, flat as [event, payload, event, payload, …],
   * in order. Answers the room left below the high-water mark of the fullest worker plugin this
   * instance fed (0: above it).
   */
  emitBatch?(events: unknown[]): number
  /** `ctx.drained()`: resolves, with the room then, once the plugins this instance fed are below their low-water marks. */
  drained?(): Promise<number>
  /** `ctx.deadLetter`: keeps a record among the plugin's dead letters. */
  deadLetter?(event: string, payload: unknown, reason: { code: string | null; message: string }): Promise<void>
  /** `ctx.call('plugin.function', args)`. */
  call(target: string, args: unknown): Promise<unknown>
  /**
   * `ctx.log.*`. `obj` always arrives as an object carrying `plugin` and `instance`
   * (an error logged on its own arrives as `{ err }`).
   */
  log(level: string, obj: unknown, msg?: string): void
  /** `ctx.coordination.append(type, args)`: resolves with the entry's seq. */
  append?(type: string, args: unknown): Promise<number>
}

/**
 * Everything needed to start one instance of a worker plugin: the cloneable part that travels to
 * the worker (`WorkerSpec`: `entry` is the absolute main module, `options` must be cloneable,
 * `limits.memoryMb` caps a thread's old generation or a child's V8 heap, `startTimeoutMs` bounds
 * load + `init`, `stopTimeoutMs` a graceful stop), plus the host-side bridge.
 */
export interface InstanceSpec extends Omit<WorkerSpec, 'callTimeoutMs' | 'nice' | 'holdKeysBy' | 'instanceCount'> {
  /** See `WorkerSpec.instanceCount`; default 1. */
  instanceCount?: number
  /** Timeout of every rpc call, both ways (plugin functions, ctx.state/call…). Default 30000. */
  callTimeoutMs?: number
  /** Nice steps below the host; default 0: the instance competes for the CPU on equal terms. */
  nice?: number
  /** See `WorkerSpec.holdKeysBy`; default null (no hold-back). */
  holdKeysBy?: string | null
  /** Process isolation only: the child runs under Node's permission model (`permission-flags.ts`); unset: unconfined. */
  permissions?: Permissions
  bridge: HostBridge
}

/** How an instance ended. */
export interface ExitInfo {
  /** Exit code of the thread or process: 0 after a clean stop, 1 for a terminated thread, null after a signal. */
  code: number | null
  signal: string | null
  /** `stopped`: after a graceful stop; `killed`: by `kill()` or a stop that overran; `crashed`: anything else. */
  reason: 'stopped' | 'killed' | 'crashed'
  /** What brought it down (uncaught error, OOM, protocol error), or what `close` threw. */
  error?: Error
}

/** One running instance. Every method rejects with `RIG_ERR_WORKER_EXITED` once it has ended. */
export interface WorkerInstance {
  readonly id: number
  /** The child's pid, or the supervisor's own pid for a thread. */
  readonly pid: number
  /** The thread's id, or 0 for a child process. */
  readonly threadId: number
  readonly info: StartInfo
  /**
   * One result per event, in order; a throwing hook gives `ok: false` and the instance lives on,
   * and so does a hook that did not settle within `limits.handlerTimeoutMs`
   * (`RIG_ERR_HANDLER_TIMEOUT`: the runtime gives up on it and goes on with the next event).
   * Batches may be pipelined: the runtime runs them one after the other, in call order.
   * `seen`: see `RunMsg.seen` (0 when the plugin holds no keys back).
   * Rejects `RIG_ERR_NOT_CLONEABLE` (instance unharmed) when the batch cannot be cloned,
   * `RIG_ERR_CLOSED` once `stop()` was called, `RIG_ERR_WORKER_EXITED` when the instance dies.
   */
  run(batch: WireEvent[], seen?: number): Promise<EventResult[]>
  /**
   * Answered outside the batch queue, so a busy async hook does not delay it and a blocked
   * event loop does. Rejects `RIG_ERR_WORKER_UNRESPONSIVE` after `timeoutMs`.
   */
  ping(timeoutMs: number): Promise<Heartbeat>
  /**
   * Called when the instance says, unasked, that it is past `limits.memoryMb` (a thread checks
   * between heartbeats); `halted`: it runs no more hooks and should be ended. One listener.
   */
  onOverLimit(listener: (memory: MemoryFigures, halted: boolean) => void): void
  /** Called when the instance writes its heap snapshot near the memory limit (`limits.heapSnapshot`). One listener. */
  onHeapSnapshot(listener: (msg: HeapSnapshotMsg) => void): void
  /**
   * Records a CPU profile for `ms` and writes it to `file` (docs/diagnostics.md), also while a hook
   * blocks the instance's event loop. Rejects `RIG_ERR_PROFILE_UNAVAILABLE` (the instance has
   * ended, or has no inspector or profiler thread) or `RIG_ERR_PROFILE_FAILED`.
   */
  profile(ms: number, file: string): Promise<ProfileWritten>
  /** Hands the instance coordination log entries to apply (workers/coordination.ts); its answer. */
  coordinate?(batch: CoordBatch): Promise<CoordReply>
  /** Calls one of the plugin's `functions`; rejects `RIG_ERR_CALL_TIMEOUT` after `callTimeoutMs`. */
  call(fn: string, args: unknown): Promise<unknown>
  /**
   * Runs the plugin's `whenReady` in the instance (nothing when it has none); rejects
   * `RIG_ERR_PLUGIN_INIT_TIMEOUT` when it has not finished within `timeoutMs`.
   */
  ready(timeoutMs: number): Promise<void>
  /**
   * Ends the plugin's source in the instance, if it has one (aborts its signal, waits up to
   * `timeoutMs` for `start` to return, runs `stop`), so nothing more is emitted while it drains.
   */
  stopSource?(timeoutMs: number): Promise<void>
  /**
   * Graceful: refuses new batches, finishes those handed in, aborts `ctx.signal`, runs `close`,
   * exits; kills after `limits.stopTimeoutMs`. Resolves once the instance has exited.
   */
  stop(): Promise<void>
  /** Immediate (terminate / SIGKILL). Resolves once the instance has exited. */
  kill(): Promise<void>
  /** Resolves once, however the instance ends. Never rejects. */
  readonly exited: Promise<ExitInfo>
}

export interface WorkerHost {
  /**
   * Starts an instance and resolves once the plugin is loaded and its `init` finished. Rejects
   * `RIG_ERR_WORKER_DEFINITION` (pipes, controllers or provides), `RIG_ERR_OPTIONS_INVALID` (the
   * options fail the plugin's own schema), or `RIG_ERR_WORKER_START` with the cause
   * (import failure, throwing `init`, early exit, or no answer within `limits.startTimeoutMs`);
   * nothing is left running after a rejection.
   */
  start(spec: InstanceSpec): Promise<WorkerInstance>
}
