/**
 * The in-worker runtime, the same in a thread and a child process: loads the plugin, runs `init`,
 * runs hooks on batches one event at a time, serves the plugin's functions, answers heartbeats,
 * and runs `close` when asked to stop. The entry files only wire it to their transport.
 */
import { getPriority, setPriority } from 'node:os'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { isMainThread } from 'node:worker_threads'
import type { HookFn, FunctionFn, PluginContext, PluginDefinition } from '../src/plugin/types.js'
import type {
  BatchFailure, Heartbeat, HostToWorker, MemoryFigures, StartedMsg, StartFailedMsg, StoppedMsg, WireEvent, WorkerSpec, WorkerToHost,
} from '../src/worker-protocol.js'
import { buildContext } from './context.js'
import { OutriggerError, serializeError } from '../src/errors.js'
import { importDefinition } from '../src/plugin/definition.js'
import { RpcLink } from '../src/rpc-link.js'

/** A batch's outcome, as `RanMsg` carries it. */
export type RanOutcome = { ms: Float64Array; failures: BatchFailure[] }

/** Longest stretch of synchronous hooks before the runtime lets control messages through. */
const YIELD_MS = 20
/** How often, in hook time, a thread reads its own memory between heartbeats. */
const MEMORY_CHECK_MS = 1
/** Past this many times `limits.memoryMb`, a thread runs no more hooks. */
const HALT_FACTOR = 1.25

export class Runtime {
  private spec: WorkerSpec | undefined
  private def: PluginDefinition = {}
  private hooks: Record<string, HookFn> = {}
  private functions: Record<string, FunctionFn> = {}
  private ctx: PluginContext | undefined
  private rpc: RpcLink | undefined
  private readonly abort = new AbortController()
  // Batches may arrive while earlier ones still run (the host pipelines them); chaining them here
  // keeps events in order whatever the transport does.
  private tail: Promise<unknown> = Promise.resolve()
  private busySince = 0
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 10 })
  /** When the batch loop reads the memory next (performance.now()); never unless `watchMemory`. */
  private memoryDue = Infinity
  /** Whether the host was told that this thread is past its memory limit. */
  private overLimit = false

  /**
   * @param post sends a control message (pong, rpc) to the host, outside the batch queue.
   * @param memory this worker's own memory figures, for heartbeats.
   * @param watchMemory read them between heartbeats too (a thread: its memory is the host's).
   */
  constructor(
    private readonly post: (msg: WorkerToHost) => void,
    private readonly memory: () => MemoryFigures,
    private readonly watchMemory = false,
  ) {}

  async start(spec: WorkerSpec): Promise<StartedMsg | StartFailedMsg> {
    this.spec = spec
    this.loopDelay.enable()
    if (this.watchMemory) this.memoryDue = 0
    if (spec.nice > 0) lowerPriority(spec.nice)
    try {
      const rpc = (this.rpc = new RpcLink((msg) => this.post(msg), spec.callTimeoutMs))
      this.def = await importDefinition(spec.entry, 'worker', spec.plugin)
      this.hooks = this.def.hooks ?? {}
      this.functions = this.def.functions ?? {}
      const ctx = (this.ctx = buildContext(spec, rpc.remote('bridge'), rpc.remote('state'), this.abort.signal))
      rpc.expose('fn', { call: (name: string, args: unknown) => this.callFunction(name, args, ctx) })
      if (this.def.init) {
        try {
          await this.def.init(ctx)
        } catch (err) {
          throw new OutriggerError('RIG_ERR_PLUGIN_INIT', `init of plugin "${spec.plugin}" threw: ${message(err)}`, { cause: err })
        }
      }
      return { code: 'started', info: { hooks: Object.keys(this.hooks), functions: Object.keys(this.functions) } }
    } catch (err) {
      return { code: 'start-failed', error: serializeError(err) }
    }
  }

  /** Runs a batch after every batch handed in before it; never rejects. */
  run(batch: WireEvent[]): Promise<RanOutcome> {
    const done = this.tail.then(() => this.runNow(batch))
    this.tail = done
    return done
  }

  /** Finishes the batches already handed in, aborts `ctx.signal`, then runs `close`. */
  async stop(): Promise<StoppedMsg> {
    await this.tail
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

  private async runNow(batch: WireEvent[]): Promise<RanOutcome> {
    const hooks = this.hooks
    const ctx = this.ctx as PluginContext
    const ms = new Float64Array(batch.length)
    const failures: BatchFailure[] = []
    let slice = performance.now()
    // One clock read per event: each event's end is the next one's start.
    let t0 = slice
    for (let i = 0; i < batch.length; i++) {
      const ev = batch[i]
      this.busySince = t0
      // A batch of synchronous hooks would otherwise hold the loop for the whole batch, and
      // heartbeats (answered on this loop) would wait: give them a turn every YIELD_MS.
      if (t0 - slice > YIELD_MS) {
        await new Promise((r) => setImmediate(r))
        slice = t0 = this.busySince = performance.now()
      }
      try {
        const hook = hooks[ev.subscription]
        if (typeof hook !== 'function') throw new OutriggerError('RIG_ERR_UNKNOWN_TARGET', `plugin has no hook "${ev.subscription}"`)
        const r = hook(ev.payload, ctx, { event: ev.event, subscription: ev.subscription }) as PromiseLike<unknown> | undefined
        // Awaiting only real promises keeps a synchronous hook free of a microtask hop per event.
        if (r !== null && typeof r === 'object' && typeof r.then === 'function') await r
      } catch (err) {
        failures.push({ i, error: serializeError(err) })
      }
      const t1 = performance.now()
      ms[i] = t1 - t0
      t0 = t1
      if (t1 >= this.memoryDue) {
        const halt = this.checkMemory(t1)
        if (halt) await halt
      }
    }
    this.busySince = 0
    return { ms, failures }
  }

  /**
   * Heartbeats come a second apart by default, and in a second a thread that keeps 1 MB per event
   * can take gigabytes of the host's memory. So every MEMORY_CHECK_MS of hook time a thread reads
   * its own figures (v8.getHeapStatistics: about 2 µs) and tells the host at once when it is past
   * limits.memoryMb; the host then recycles it (no new batches; it finishes those it holds). If
   * finishing them takes it past HALT_FACTOR × the limit, it runs no more hooks and waits to be
   * ended, as V8 ends a thread whose heap outgrows its limit. Returns that wait.
   */
  private checkMemory(now: number): Promise<never> | undefined {
    this.memoryDue = now + MEMORY_CHECK_MS
    const limitMb = (this.spec as WorkerSpec).limits.memoryMb
    const memory = this.memory()
    if (memory.memoryMb <= limitMb) return
    const halted = memory.memoryMb > limitMb * HALT_FACTOR
    if (halted || !this.overLimit) this.post({ code: 'over-limit', memory, halted })
    this.overLimit = true
    if (!halted) return
    this.memoryDue = Infinity
    return new Promise<never>(() => {})
  }

  private callFunction(name: string, args: unknown, ctx: PluginContext): unknown {
    const fn = Object.hasOwn(this.functions, name) ? this.functions[name] : undefined
    if (typeof fn !== 'function') throw new OutriggerError('RIG_ERR_UNKNOWN_TARGET', `plugin "${this.spec?.plugin}" has no function "${name}"`)
    return fn(args, ctx)
  }

  private heartbeat(): Heartbeat {
    // The histogram times the whole sampling interval; the delay is what exceeds it.
    const p99 = Math.max(0, this.loopDelay.percentile(99) / 1e6 - 10)
    this.loopDelay.reset()
    const busy = this.busySince
    return {
      eventLoopP99Ms: Number.isFinite(p99) ? p99 : 0,
      ...this.memory(),
      busyMs: busy === 0 ? 0 : performance.now() - busy,
    }
  }
}

/**
 * When workers take every core, the OS scheduler decides how long the host's event loop waits:
 * a worker at a higher nice value yields to it. Linux keeps nice values per thread, so a thread
 * instance lowers only itself; elsewhere the call would lower the whole host, so only child
 * processes do it there. Raising one's own nice value needs no privilege.
 */
function lowerPriority(steps: number): void {
  if (!isMainThread && process.platform !== 'linux') return
  try {
    // Relative, like nice(1): the instance starts at the host's own value.
    setPriority(0, Math.min(19, getPriority(0) + steps))
  } catch {
    // Not permitted (a sandbox): the instance keeps the host's priority, which only costs latency.
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
