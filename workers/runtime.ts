/**
 * The in-worker runtime, the same in a thread and a child process: loads the plugin, runs `init`
 * (and `whenReady` when the host asks), hands batches to its hooks (batch-runner.ts), serves the
 * plugin's functions, answers heartbeats, and runs `close` when asked to stop. The entry files only wire it to their transport.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import type { FunctionFn, PluginContext, PluginDefinition } from '../src/plugin/types.js'
import type { Heartbeat, HostToWorker, MemoryFigures, StartedMsg, StartFailedMsg, StoppedMsg, WireEvent, WorkerSpec, WorkerToHost } from '../src/worker-protocol.js'
import { BatchRunner, type RanOutcome } from './batch-runner.js'
import { callFunction } from './call-function.js'
import { buildContext } from './context.js'
import { WorkerCoordination } from './coordination.js'
import { MemoryWatch } from './memory-watch.js'
import { HeapSnapshotWatch } from './heap-snapshot.js'
import { lowerPriority } from './priority.js'
import { OutriggerError, serializeError } from '../src/errors.js'
import { checkOptions, fromFactory, importEntry } from '../src/plugin/definition.js'
import { describeDenied } from '../src/plugin/access-denied.js'
import { RpcLink } from '../src/rpc-link.js'
import { sinkHooks, sinkInfo } from '../src/plugin/io-shape.js'
import { runSource } from './source.js'

export type { RanOutcome } from './batch-runner.js'

export class Runtime {
  private spec: WorkerSpec | undefined
  private def: PluginDefinition = {}
  private functions: Record<string, FunctionFn> = {}
  private ctx: PluginContext | undefined
  private source: ReturnType<typeof runSource>
  private rpc: RpcLink | undefined
  private readonly abort = new AbortController()
  /** Runs the hooks on batches (batch-runner.ts). */
  private readonly batches: BatchRunner
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
    this.batches = new BatchRunner(this.memoryWatch)
  }

  async start(spec: WorkerSpec): Promise<StartedMsg | StartFailedMsg> {
    this.spec = spec
    this.batches.configure(spec)
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
      this.batches.use({ ...this.def.hooks, ...sinkHooks(this.def) }, ctx)
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
    return this.batches.run(batch, seen)
  }

  /** Finishes the batches already handed in, aborts `ctx.signal`, then runs `close`. */
  async stop(): Promise<StoppedMsg> {
    await this.source?.stop(this.spec!.limits.stopTimeoutMs / 2)
    await this.batches.finish()
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

  private heartbeat(): Heartbeat {
    // The histogram times the whole sampling interval; the delay is what exceeds it.
    const p99 = Math.max(0, this.loopDelay.percentile(99) / 1e6 - 10)
    this.loopDelay.reset()
    const busy = this.batches.busySince
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
