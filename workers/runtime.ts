/**
 * The in-worker runtime, the same in a thread and a child process: loads the plugin, runs `init`
 * (and `whenReady` when the host asks), runs hooks on batches one event at a time, serves the
 * plugin's functions, answers heartbeats, and runs `close` when asked to stop. The entry files only wire it to their transport.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import type { HookFn, FunctionFn, PluginContext, PluginDefinition } from '../src/plugin/types.js'
import type { BatchFailure, Heartbeat, HostToWorker, MemoryFigures, StartedMsg, StartFailedMsg, StoppedMsg, WireEvent, WorkerSpec, WorkerToHost } from '../src/worker-protocol.js'
import { callFunction } from './call-function.js'
import { buildContext } from './context.js'
import { WorkerCoordination } from './coordination.js'
import { MemoryWatch } from './memory-watch.js'
import { HeapSnapshotWatch } from './heap-snapshot.js'
import { lowerPriority } from './priority.js'
import { OutriggerError, serializeError } from '../src/errors.js'
import { checkOptions, fromFactory, importEntry } from '../src/plugin/definition.js'
import { describeDenied, explainDenied } from '../src/plugin/access-denied.js'
import { keyString, pathGetter } from '../src/delivery/partition.js'
import { RpcLink } from '../src/rpc-link.js'
import { sinkHooks, sinkInfo } from '../src/plugin/io-shape.js'
import { runSource } from './source.js'

/** A batch's outcome, as `RanMsg` carries it. */
export type RanOutcome = { ms: Float64Array; failures: BatchFailure[]; held: number[] }

/** A batch being run, and what is known of it so far. */
interface Run {
  batch: WireEvent[]
  seen: number
  /** The event running now (or next). */
  i: number
  ms: Float64Array
  failures: BatchFailure[]
  held: number[]
  done: (outcome: RanOutcome) => void
}

/** Longest stretch of synchronous hooks before the runtime lets control messages through. */
const YIELD_MS = 20

export class Runtime {
  private spec: WorkerSpec | undefined
  private def: PluginDefinition = {}
  private hooks: Record<string, HookFn> = {}
  private functions: Record<string, FunctionFn> = {}
  private ctx: PluginContext | undefined
  private source: ReturnType<typeof runSource>
  private rpc: RpcLink | undefined
  private readonly abort = new AbortController()
  // Batches may arrive while earlier ones still run (the host pipelines them); chaining them here
  // keeps events in order whatever the transport does.
  private tail: Promise<unknown> = Promise.resolve()
  private busySince = 0
  private current: Run | undefined
  /** Bumped for every new runner of a batch; an older runner that wakes up stops. */
  private runner = 0
  private watchdog: NodeJS.Timeout | undefined
  /** At-least-once with `partitionBy`: the key of a payload (see `holdBack`). */
  private keyOf: ((payload: unknown) => unknown) | undefined
  /** Keys held back, each with the number of the failure that holds it. */
  private readonly heldKeys = new Map<string, number>()
  private failureCount = 0
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 10 })
  /** Reads a thread's memory between heartbeats (memory-watch.ts); only started with `watchMemory`. */
  private readonly memoryWatch: MemoryWatch
  /** `limits.heapSnapshot`: one snapshot near the memory limit (heap-snapshot.ts). */
  private snapshot: HeapSnapshotWatch | undefined

  /**
   * @param post sends a control message (pong, rpc) to the host, outside the batch queue.
   * @param memory this worker's own memory figures, for heartbeats.
   * @param watchMemory read them between heartbeats too (a thread: its memory is the host's).
   */
  constructor(
    private readonly post: (msg: WorkerToHost) => void,
    private readonly memory: () => MemoryFigures,
    private readonly watchMemory = false,
  ) {
    this.memoryWatch = new MemoryWatch(post, memory, (m) => this.snapshot?.check(m))
  }

  async start(spec: WorkerSpec): Promise<StartedMsg | StartFailedMsg> {
    this.spec = spec
    this.keyOf = spec.holdKeysBy ? pathGetter(spec.holdKeysBy) : undefined
    if (spec.limits.heapSnapshot) this.snapshot = new HeapSnapshotWatch(spec, this.post)
    this.loopDelay.enable()
    if (this.watchMemory) this.memoryWatch.start()
    if (spec.nice > 0) lowerPriority(spec.nice)
    try {
      const rpc = (this.rpc = new RpcLink((msg) => this.post(msg), spec.callTimeoutMs))
      const options = { value: spec.options }
      const bridge = rpc.remote('bridge')
      const coord = new WorkerCoordination(spec.plugin, spec.peerId ?? spec.instanceId, bridge, (msg, err) => ctx.log.error({ err }, msg))
      const ctx = (this.ctx = buildContext(spec, bridge, rpc.remote('state'), this.abort.signal, options, coord.api))
      // A factory entry is called here, once per instance, so each instance has its own state.
      const exported = await importEntry(spec.entry, 'worker', spec.plugin)
      this.def = typeof exported === 'function' ? await fromFactory(exported, ctx, 'worker', spec.plugin, spec.entry) : exported
      this.hooks = { ...this.def.hooks, ...sinkHooks(this.def) }
      this.functions = this.def.functions ?? {}
      coord.use(this.def.coordination)
      // The options as the plugin's own schema reads them (defaults filled in), before init.
      options.value = checkOptions(this.def, spec.options, spec.plugin)
      rpc.expose('fn', { call: (name: string, args: unknown) => callFunction(this.functions, spec.plugin, name, args, ctx), ready: () => this.whenReady(ctx), stopSource: (ms: number) => this.source?.stop(ms), coord: coord.apply.bind(coord) })
      if (this.def.init) {
        try {
          await this.def.init(ctx)
        } catch (err) {
          throw new OutriggerError('RIG_ERR_PLUGIN_INIT', `init of plugin "${spec.plugin}" threw: ${message(err)}`, { cause: err })
        }
      }
      return { code: 'started', info: { hooks: Object.keys(this.def.hooks ?? {}), functions: Object.keys(this.functions), sinks: sinkInfo(this.def) } }
    } catch (err) {
      return { code: 'start-failed', error: serializeError(err) }
    }
  }

  /**
   * The plugin's `whenReady`, asked for by the host once every instance has run `init` (and for
   * an instance started later, right after its own `init`). The host holds it to its timeout.
   * The plugin's source starts after it: what it emits then has somewhere to go.
   */
  private async whenReady(ctx: PluginContext): Promise<void> {
    try {
      await this.def.whenReady?.(ctx)
    } catch (err) {
      throw new OutriggerError('RIG_ERR_PLUGIN_INIT', `whenReady of plugin "${this.spec?.plugin}" threw: ${message(err)}`, { cause: err })
    }
    this.source ??= runSource(this.def, ctx)
  }

  /** Runs a batch after every batch handed in before it; never rejects. `seen`: see `RunMsg.seen`. */
  run(batch: WireEvent[], seen = 0): Promise<RanOutcome> {
    const done = this.tail.then(
      () =>
        new Promise<RanOutcome>((resolve) => {
          const run: Run = { batch, seen, i: 0, ms: new Float64Array(batch.length), failures: [], held: [], done: resolve }
          this.current = run
          this.armWatchdog(this.spec!.limits.handlerTimeoutMs)
          void this.drive(run, ++this.runner)
        }),
    )
    this.tail = done
    return done
  }

  /** Finishes the batches already handed in, aborts `ctx.signal`, then runs `close`. */
  async stop(): Promise<StoppedMsg> {
    await this.source?.stop(this.spec!.limits.stopTimeoutMs / 2)
    await this.tail
    clearTimeout(this.watchdog)
    this.abort.abort()
    this.loopDelay.disable()
    if (!this.def.close || !this.ctx) return { code: 'stopped' }
    try {
      await this.def.close(this.ctx)
      return { code: 'stopped' }
    } catch (err) {
      const plugin = this.spec?.plugin
      return { code: 'stopped', error: serializeError(new OutriggerError('RIG_ERR_PLUGIN_INIT', `close of plugin "${plugin}" threw: ${message(err)}`, { cause: err })) }
    }
  }

  /** Control traffic: answered at once, whatever hook is running, unless it blocks the loop. */
  onControl(msg: HostToWorker): void {
    if (msg.code === 'ping') this.post({ code: 'pong', id: msg.id, heartbeat: this.heartbeat() })
    else if (msg.code === 'rpc' && this.rpc) this.rpc.deliver(msg)
    else throw new OutriggerError('RIG_ERR_WORKER_START', `protocol error: unexpected control message "${(msg as { code?: unknown }).code}"`)
  }

  /**
   * Runs `run` from its current event to its end, unless a newer runner takes over: when the
   * watchdog gives up on a hook that does not settle, it starts a new runner at the next event,
   * and this one, should the hook ever settle, finds `runner` moved on and leaves quietly.
   */
  private async drive(run: Run, me: number): Promise<void> {
    const { batch, ms } = run
    const hooks = this.hooks
    const ctx = this.ctx as PluginContext
    let slice = performance.now()
    // One clock read per event: each event's end is the next one's start.
    let t0 = slice
    for (; run.i < batch.length; run.i++) {
      const i = run.i
      const ev = batch[i]
      this.busySince = t0
      // A batch of synchronous hooks would otherwise hold the loop for the whole batch, and
      // heartbeats (answered on this loop) would wait: give them a turn every YIELD_MS.
      if (t0 - slice > YIELD_MS) {
        await new Promise((r) => setImmediate(r))
        if (me !== this.runner) return
        slice = t0 = this.busySince = performance.now()
      }
      if (this.heldKeys.size !== 0 && this.holdBack(run, ev)) continue
      let threw = false
      let error: unknown
      try {
        const hook = hooks[ev.subscription]
        if (typeof hook !== 'function') throw new OutriggerError('RIG_ERR_UNKNOWN_TARGET', `plugin has no hook "${ev.subscription}"`)
        const r = hook(ev.payload, ctx, { event: ev.event, subscription: ev.subscription }) as PromiseLike<unknown> | undefined
        // Awaiting only real promises keeps a synchronous hook free of a microtask hop per event.
        if (r !== null && typeof r === 'object' && typeof r.then === 'function') await r
      } catch (err) {
        threw = true
        error = err
      }
      // Given up on by the watchdog while we waited: the event is accounted for, another runner goes on.
      if (me !== this.runner) return
      if (threw) this.failed(run, i, error)
      const t1 = performance.now()
      ms[i] = t1 - t0
      t0 = t1
      if (t1 >= this.memoryWatch.due) {
        const halt = this.memoryWatch.check(t1, this.spec!.limits.memoryMb)
        if (halt) await halt
      }
    }
    this.busySince = 0
    this.current = undefined
    run.done({ ms, failures: run.failures, held: run.held })
  }

  /**
   * One timer per instance, not one per event: it wakes at the earliest moment the running hook
   * could be overdue, and re-arms itself from `busySince` while hooks keep finishing in time.
   *
   * Why the worker times hooks out itself: a hook that never settles (a lost network answer)
   * leaves the event loop free, so this timer runs, the event fails with
   * RIG_ERR_HANDLER_TIMEOUT, and the batch goes on — no kill, nothing else lost or retried. A
   * hook that blocks the loop (a synchronous endless loop) stops this timer too; only the host
   * can end that, by killing the instance when heartbeats go unanswered.
   */
  private armWatchdog(delayMs: number): void {
    if (this.watchdog !== undefined) return
    this.watchdog = setTimeout(() => {
      this.watchdog = undefined
      this.checkOverdue()
    }, delayMs)
    this.watchdog.unref()
  }

  private checkOverdue(): void {
    const run = this.current
    if (!run || this.busySince === 0) return // idle: the next batch arms the timer again
    const limit = this.spec!.limits.handlerTimeoutMs
    const ranMs = performance.now() - this.busySince
    if (ranMs < limit) return this.armWatchdog(Math.max(1, Math.ceil(limit - ranMs)))
    const i = run.i
    const ev = run.batch[i]
    run.ms[i] = ranMs
    this.failed(run, i, new OutriggerError('RIG_ERR_HANDLER_TIMEOUT', `plugin "${this.spec!.plugin}": hook "${ev.subscription}" on "${ev.event}" did not settle within ${limit} ms (limits.handlerTimeoutMs); the worker gave up on it and went on with the next event`))
    run.i++
    void this.drive(run, ++this.runner)
    this.armWatchdog(limit)
  }

  private failed(run: Run, i: number, err: unknown): void {
    // A refusal of the permission model says which worker.permissions field would allow it.
    run.failures.push({ i, error: serializeError(explainDenied(err)) })
    if (this.keyOf) this.heldKeys.set(keyString(this.keyOf(run.batch[i].payload)), ++this.failureCount)
  }

  /**
   * `partitionBy` order under retries: after an event of key K failed here, the later events of
   * K that the host sent before it saw that failure must not overtake its retry. They go back
   * unrun; the host keeps them behind the retry. A batch sent after the host saw the failure
   * (`seen` reaches its number) is already in the right order, and K runs again.
   */
  private holdBack(run: Run, ev: WireEvent): boolean {
    const key = keyString(this.keyOf!(ev.payload))
    const failure = this.heldKeys.get(key)
    if (failure === undefined) return false
    if (run.seen >= failure) {
      this.heldKeys.delete(key)
      return false
    }
    run.held.push(run.i)
    run.ms[run.i] = 0
    return true
  }

  private heartbeat(): Heartbeat {
    // The histogram times the whole sampling interval; the delay is what exceeds it.
    const p99 = Math.max(0, this.loopDelay.percentile(99) / 1e6 - 10)
    this.loopDelay.reset()
    const busy = this.busySince
    const memory = this.memory()
    this.snapshot?.check(memory)
    return {
      eventLoopP99Ms: Number.isFinite(p99) ? p99 : 0,
      ...memory,
      busyMs: busy === 0 ? 0 : performance.now() - busy,
    }
  }
}

// A refusal of the permission model says which worker.permissions field would allow it.
const message = (err: unknown): string => describeDenied(err) ?? (err instanceof Error ? err.message : String(err))
