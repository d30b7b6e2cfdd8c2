/**
 * What both adapters share: the lifecycle of one instance (start handshake, graceful stop with a
 * deadline, kill), heartbeats, plugin function calls, the host bridge, and the bookkeeping that
 * comlink and piscina lack: every pending promise is tracked, so the moment an instance dies all
 * of them reject with RIG_ERR_WORKER_EXITED instead of hanging.
 */
import { debuglog } from 'node:util'
import { deserializeError, errorCode, errorMessage, isOutriggerError, OutriggerError, serializeError, type SerializedError } from '../errors.js'
import type {
  EventResult, HeapSnapshotMsg, Heartbeat, HostToWorker, MemoryFigures, RanMsg, RunResults, StartedMsg, StartFailedMsg, StartInfo, StoppedMsg, WireEvent, WorkerSpec, WorkerToHost,
} from '../worker-protocol.js'
import { RpcLink, type RemoteCall } from '../rpc-link.js'
import { isCloneError, notCloneable } from './clone-error.js'
import type { ExitInfo, InstanceSpec, ProfileWritten, WorkerInstance } from './worker-host.js'
import { bridgeTarget } from './bridge-target.js'
import type { CoordBatch, CoordReply } from '../coordination/types.js'

const debug = debuglog('outrigger')
const DEFAULT_CALL_TIMEOUT_MS = 30000

type State = 'starting' | 'running' | 'stopping' | 'exited'

export abstract class BaseInstance implements WorkerInstance {
  readonly id: number
  abstract readonly pid: number
  abstract readonly threadId: number
  info: StartInfo = { hooks: [], functions: [] }
  readonly exited: Promise<ExitInfo>

  protected state: State = 'starting'
  protected readonly rpc: RpcLink
  /** The last word on why the instance went down (uncaught error, fatal report, protocol error). */
  protected exitCause: Error | undefined

  private resolveExited!: (info: ExitInfo) => void
  private exitedError: OutriggerError | undefined
  private readonly pending = new Set<(err: Error) => void>()
  private readonly pings = new Map<number, { resolve: (hb: Heartbeat) => void; timer: NodeJS.Timeout }>()
  private nextPingId = 1
  private readonly callFn: RemoteCall
  private overLimit: ((memory: MemoryFigures, halted: boolean) => void) | undefined
  private heapSnapshot: ((msg: HeapSnapshotMsg) => void) | undefined
  private stopping: Promise<void> | undefined
  private ending: 'stopped' | 'killed' | undefined

  constructor(protected readonly spec: InstanceSpec) {
    this.id = spec.instanceId
    this.exited = new Promise((resolve) => (this.resolveExited = resolve))
    this.rpc = new RpcLink((msg) => this.sendControl(msg), spec.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS)
    this.rpc.expose('bridge', bridgeTarget(spec))
    this.rpc.expose('state', spec.bridge.state as unknown as Record<string, (...args: any[]) => unknown>)
    this.callFn = this.rpc.remote('fn')
  }

  // --- what an adapter provides ---------------------------------------------------------------
  /** Sends a control message (ping, rpc) outside the batch queue. May throw a clone error. */
  protected abstract sendControl(msg: HostToWorker): void
  protected abstract requestStart(spec: WorkerSpec): Promise<StartedMsg | StartFailedMsg>
  /** Must reject RIG_ERR_NOT_CLONEABLE, and leave the instance usable, when `batch` cannot be cloned. */
  protected abstract sendBatch(batch: WireEvent[], seen: number): Promise<RanMsg>
  protected abstract requestStop(): Promise<StoppedMsg>
  /** The runtime has closed the plugin: let the instance end. */
  protected abstract release(): void
  /** Ends the instance now. Must lead to `markExited`. */
  protected abstract terminate(): void
  /** Records a CPU profile of the running instance (see `WorkerInstance.profile`). */
  protected abstract recordProfile(ms: number, file: string): Promise<ProfileWritten>

  // --- WorkerInstance ---------------------------------------------------------------------------
  run(batch: WireEvent[], seen = 0): Promise<EventResult[]> {
    if (this.state !== 'running') return Promise.reject(this.refusal())
    return this.track(this.sendBatch(batch, seen)).then((ran) => toResults(batch, ran))
  }

  ping(timeoutMs: number): Promise<Heartbeat> {
    if (this.state === 'exited') return Promise.reject(this.exitedError)
    const id = this.nextPingId++
    return this.track(
      new Promise<Heartbeat>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.pings.delete(id)
          reject(new OutriggerError('RIG_ERR_WORKER_UNRESPONSIVE', `${this.label()} did not answer a heartbeat within ${timeoutMs} ms`))
        }, timeoutMs)
        this.pings.set(id, { resolve, timer })
        this.sendControl({ code: 'ping', id })
      }),
    )
  }

  onOverLimit(listener: (memory: MemoryFigures, halted: boolean) => void): void {
    this.overLimit = listener
  }

  onHeapSnapshot(listener: (msg: HeapSnapshotMsg) => void): void {
    this.heapSnapshot = listener
  }

  profile(ms: number, file: string): Promise<ProfileWritten> {
    if (this.state !== 'running') return Promise.reject(new OutriggerError('RIG_ERR_PROFILE_UNAVAILABLE', `${this.label()} cannot be profiled: it is ${this.state}`))
    return this.recordProfile(ms, file)
  }

  coordinate(batch: CoordBatch): Promise<CoordReply> {
    return this.state === 'exited' ? Promise.reject(this.exitedError) : (this.callFn('coord', [batch]) as Promise<CoordReply>)
  }

  call(fn: string, args: unknown): Promise<unknown> {
    if (this.state === 'exited') return Promise.reject(this.exitedError)
    return this.callFn('call', [fn, args]).catch((err: unknown) => {
      throw isCloneError(err) ? notCloneable(`the arguments of ${this.spec.plugin}.${fn}()`, err) : err
    })
  }

  async ready(timeoutMs: number): Promise<void> {
    if (this.state === 'exited') throw this.exitedError
    try {
      await this.callFn('ready', [], timeoutMs)
    } catch (err) {
      if (errorCode(err) !== 'RIG_ERR_CALL_TIMEOUT') throw err
      throw new OutriggerError('RIG_ERR_PLUGIN_INIT_TIMEOUT', `${this.label()}: whenReady did not finish within ${timeoutMs} ms (raise timeouts.whenReadyMs in the host config or fix the plugin)`, { cause: err })
    }
  }

  async stopSource(timeoutMs: number): Promise<void> {
    if (this.state !== 'running') return
    await this.callFn('stopSource', [timeoutMs], timeoutMs + 1000)
  }

  stop(): Promise<void> {
    if (this.state === 'exited') return Promise.resolve()
    return (this.stopping ??= this.stopGracefully())
  }

  kill(): Promise<void> {
    if (this.state !== 'exited') {
      this.ending = 'killed'
      this.terminate()
    }
    return this.exited.then(() => undefined)
  }

  // --- for adapters -----------------------------------------------------------------------------
  /** Loads the plugin and runs `init`; on any failure, ends the instance and throws. */
  async boot(): Promise<void> {
    const { startTimeoutMs } = this.spec.limits
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new OutriggerError('RIG_ERR_WORKER_START', `${this.label()} did not start within ${startTimeoutMs} ms (limits.startTimeoutMs)`)),
        startTimeoutMs,
      )
    })
    try {
      const reply = await Promise.race([this.track(this.requestStart(wireSpec(this.spec))), timeout])
      if (reply.code === 'start-failed') throw deserializeError(reply.error)
      this.info = reply.info
      this.state = 'running'
    } catch (err) {
      await this.kill()
      throw this.startError(err)
    } finally {
      clearTimeout(timer)
    }
  }

  /** Routes a message that arrived on the control channel. */
  protected onControl(msg: WorkerToHost): void {
    switch (msg.code) {
      case 'pong': {
        const ping = this.pings.get(msg.id)
        if (!ping) return // answered after its timeout: the caller has moved on
        this.pings.delete(msg.id)
        clearTimeout(ping.timer)
        ping.resolve(msg.heartbeat)
        return
      }
      case 'rpc':
        return this.rpc.deliver(msg)
      case 'over-limit':
        return this.overLimit?.(msg.memory, msg.halted)
      case 'heap-snapshot':
        return this.heapSnapshot?.(msg)
      case 'fatal':
        this.exitCause = deserializeError(msg.error)
        return
      default:
        this.protocolError(msg)
    }
  }

  /** A message this host does not understand means the two sides disagree: end the instance. */
  protected protocolError(msg: unknown): void {
    const code = (msg as { code?: unknown } | null)?.code
    this.exitCause = new Error(`protocol error: unexpected message "${String(code)}" from ${this.label()}`)
    this.spec.bridge.log('error', { plugin: this.spec.plugin, instance: this.id, err: this.exitCause }, 'worker protocol error')
    this.terminate()
  }

  /** Called once by the adapter when the thread or process is gone. */
  protected markExited(code: number | null, signal: string | null, error?: Error): void {
    if (this.state === 'exited') return
    this.state = 'exited'
    const cause = this.exitCause ?? error
    const how = signal ? `signal ${signal}` : `code ${code}`
    this.exitedError = new OutriggerError('RIG_ERR_WORKER_EXITED', `${this.label()} exited (${how})${cause ? `: ${cause.message}` : ''}`, {
      cause,
      details: { plugin: this.spec.plugin, instance: this.id, code, signal },
    })
    for (const fail of [...this.pending]) fail(this.exitedError)
    for (const { timer } of this.pings.values()) clearTimeout(timer)
    this.pings.clear()
    this.rpc.failAll(this.exitedError)
    debug('%s exited: %s', this.label(), how)
    this.resolveExited({ code, signal, reason: this.ending ?? 'crashed', ...(cause ? { error: cause } : {}) })
  }

  protected label(): string {
    return `worker "${this.spec.plugin}" instance ${this.id}`
  }

  // --- internals --------------------------------------------------------------------------------
  /** Settles with `p`, or rejects at once when the instance exits first. */
  private track<T>(p: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const fail = (err: Error): void => {
        if (this.pending.delete(fail)) reject(err)
      }
      this.pending.add(fail)
      p.then((v) => {
        if (this.pending.delete(fail)) resolve(v)
      }, fail)
    })
  }

  private async stopGracefully(): Promise<void> {
    this.state = 'stopping'
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<'timeout'>((resolve) => (timer = setTimeout(resolve, this.spec.limits.stopTimeoutMs, 'timeout')))
    const asked = this.track(this.requestStop()).catch((err: unknown): StoppedMsg => ({ code: 'stopped', error: serializeError(err) }))
    const first = await Promise.race([asked, deadline, this.exited.then(() => 'exited' as const)])
    if (first === 'timeout') {
      this.ending = 'killed'
      this.terminate()
    } else if (first !== 'exited') {
      if (first.error) this.exitCause = deserializeError(first.error)
      this.ending = 'stopped'
      this.release()
    }
    if ((await Promise.race([this.exited, deadline])) === 'timeout') {
      this.ending = 'killed'
      this.terminate()
    }
    clearTimeout(timer)
    await this.exited
  }

  private refusal(): Error {
    if (this.state === 'exited') return this.exitedError as Error
    if (this.state === 'starting') return new OutriggerError('RIG_ERR_WORKER_START', `${this.label()} has not started yet`)
    return new OutriggerError('RIG_ERR_CLOSED', `${this.label()} is stopping and takes no more batches`)
  }

  private startError(err: unknown): OutriggerError {
    // A definition or options mistake already says what to fix, under its own code.
    if (isOutriggerError(err, 'RIG_ERR_WORKER_DEFINITION') || isOutriggerError(err, 'RIG_ERR_OPTIONS_INVALID') || isOutriggerError(err, 'RIG_ERR_WORKER_START')) return err
    // The instance died before answering: what killed it says more than "it exited".
    const cause = isOutriggerError(err, 'RIG_ERR_WORKER_EXITED') && err.cause instanceof Error ? err.cause : err
    return new OutriggerError('RIG_ERR_WORKER_START', `${this.label()} failed to start: ${errorMessage(cause)}`, {
      cause,
      details: { plugin: this.spec.plugin, instance: this.id, entry: this.spec.entry },
    })
  }
}

export { isCloneError, notCloneable } from './clone-error.js'

const HELD: SerializedError = { name: 'Error', message: 'not run: an earlier event of its partitionBy key failed in this instance' }

/** Rebuilds one result per event from the compact wire form. */
function toResults(batch: WireEvent[], { ms, failures, held, waited }: RanMsg): RunResults {
  const results: RunResults = new Array(batch.length)
  if (waited) results.waited = true
  for (let i = 0; i < batch.length; i++) results[i] = { seq: batch[i].seq, ok: true, ms: ms[i] }
  for (const { i, error } of failures) results[i] = { seq: batch[i].seq, ok: false, ms: ms[i], error }
  for (const i of held) results[i] = { seq: batch[i].seq, ok: false, ms: 0, held: true, error: HELD }
  return results
}

function wireSpec(spec: InstanceSpec): WorkerSpec {
  const { plugin, version, instanceId, entry, rootPath, dataDir, options, limits } = spec
  return {
    plugin, version, instanceId, entry, rootPath, dataDir, options, limits,
    callTimeoutMs: spec.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS, nice: spec.nice ?? 0, holdKeysBy: spec.holdKeysBy ?? null,
    ...(spec.heapSnapshotDir ? { heapSnapshotDir: spec.heapSnapshotDir } : {}),
    instanceCount: spec.instanceCount ?? 1,
    ...(spec.peerId === undefined ? {} : { peerId: spec.peerId }),
  }
}
