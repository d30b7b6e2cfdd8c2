import { Bus } from '../bus/bus.js'
import type { LetterSelection, PurgeResult, ReplayResult } from '../delivery/dead-letters.js'
import type { HostConfig } from '../config/config.js'
import { OutriggerError, errorMessage, forLog } from '../errors.js'
import { profileWorker, type ProfileOptions, type ProfileReport } from './profile-worker.js'
import { entryOf, type Loaded } from '../plugin/load-plugins.js'
import type { PluginLogger } from '../plugin/types.js'
import type { ServiceSlots } from '../services/slots.js'
import { DropWatch } from '../supervision/health.js'
import { culprit as runningAs, outside, type Culprit } from '../supervision/blame.js'
import { Backpressure } from './backpressure.js'
import { bootPlugins } from './boot.js'
import { coreContext } from './context.js'
import { coreFromFactory } from './core-factory.js'
import { CorePlugin } from './core-plugin.js'
import { emitDurable, flushJournals } from './durable-emit.js'
import { executeHost } from './execute-host.js'
import { execute, type ExecuteHost, type ExecuteOptions, type ExecuteRequest } from '../protocol/execute.js'
import type { Envelope } from '../protocol/envelope.js'
import { EventLoopMonitor } from './event-loop.js'
import { FailedPlugin } from './failed-plugin.js'
import { isolateCore } from './isolate.js'
import type { ReloadDeps } from './plugin-reload.js'
import { liveDeps } from './live-deps.js'
import { reloadPlugin, restartPlugin, startPlugin, stopPlugin } from './plugin-live.js'
import type { PluginHandle, SupervisorRuntime } from './plugin-handle.js'
import { clusterReport, type ClusterPlacement } from '../cluster/placement.js'
import type { ClusterReport } from '../cluster/report-types.js'
import { statusReport } from './status-report.js'
import type { StatusReport, SupervisorState } from './status-types.js'
import type { DeadLetter, IsolateOutcome, ReloadResult, Supervisor } from './types.js'
import { WorkerPlugin } from './worker-plugin.js'
import { Coordinator } from '../coordination/coordinator.js'
import { coreEntry, withLogFigures } from './coordination-wiring.js'

export interface CoreOptions {
  app: string
  config: HostConfig
  stateDir: string
  loaded: Loaded[]
  slots: ServiceSlots
  /** Name every core plugin call, for a host error policy that acts on it (src/supervision/blame.ts). */
  blame?: boolean
  /** Where a reload or a live start reads plugins and their config sections again. */
  pluginsDir?: string
  configFile?: string
  cluster?: ClusterPlacement
}

/**
 * The core: the plugin handles, the bus, the status report and shutdown. It knows no faces (the
 * control socket, the HTTP API, pm2): those hold a `Supervisor` and register their own close.
 */
export class OutriggerSupervisor implements Supervisor {
  readonly app: string
  readonly config: HostConfig
  readonly log: PluginLogger
  private readonly slots: ServiceSlots
  private readonly loaded: Loaded[]
  private readonly opts: CoreOptions
  private readonly bus: Bus
  private readonly rt: SupervisorRuntime
  private readonly requests: ExecuteHost
  private readonly handles: PluginHandle[] = []
  private readonly byName = new Map<string, PluginHandle>()
  private readonly abort = new AbortController()
  private readonly loop = new EventLoopMonitor()
  private readonly drops = new DropWatch()
  private readonly startedAt = Date.now()
  private state: SupervisorState = 'starting'
  private stopping?: Promise<void>
  private handlerSink: ((plugin: string, ms: number) => void) | undefined
  /** Run at the end of shutdown, last registered first. */
  private readonly closers: Array<() => Promise<void>> = []
  readonly coordination: Coordinator

  constructor(opts: CoreOptions) {
    const { app, config, slots } = opts
    this.app = app
    this.config = config
    this.slots = slots
    this.loaded = opts.loaded
    this.opts = opts
    this.log = slots.logger
    this.bus = new Bus({ log: this.log, pipeWarnMs: config.timeouts.pipeWarnMs, pipeTimeoutMs: config.timeouts.pipeTimeoutMs, maxConcurrentPipes: config.maxConcurrentPipes })
    const fail = (p: string, err: unknown) => this.byName.get(p) && this.failed(this.byName.get(p)!, err)
    this.coordination = new Coordinator({ stateDir: opts.stateDir, snapshotEvery: config.coordination.snapshotEvery, log: this.log, fail, ...opts.cluster?.coordination(config.coordination.snapshotEvery) })
    this.rt = {
      coordination: this.coordination,
      app,
      config,
      bus: this.bus,
      log: this.log,
      stateDir: opts.stateDir,
      store: slots.store,
      emit: (event, payload) => this.emit(event, payload),
      call: (target, args) => this.call(target, args),
      execute: (request) => this.execute(request as ExecuteRequest),
      signal: this.abort.signal,
      pressure: new Backpressure(this.bus.hooks, this.abort.signal),
      blame: opts.blame ? this : undefined,
      cluster: opts.cluster,
    }
    this.requests = executeHost({ slots, log: this.log, actionTimeoutMs: config.http.actionTimeoutMs, bus: this.bus, pipe: (e, p) => this.pipe(e, p), byName: this.byName })
    this.onClose(() => slots.close())
    this.onClose(() => this.coordination.close())
  }

  /** The auth and permission slots in force (a provider that failed is no longer one). */
  get services(): Supervisor['services'] {
    return this.slots
  }

  onClose(close: () => Promise<void>): void {
    this.closers.push(close)
  }

  observeHandlers(sink: (plugin: string, ms: number) => void): () => void {
    const observed = this.handles.filter((h) => h.latency)
    for (const h of observed) h.latency!.sink = (ms) => sink(h.name, ms)
    // A plugin loaded later (a restart after a failed load) reports to the same sink.
    this.handlerSink = sink
    return () => {
      this.handlerSink = undefined
      for (const h of observed) h.latency!.sink = undefined
    }
  }

  /** Starts the plugins: workers first, then each core plugin's init, then their whenReady (boot.ts). */
  async boot(opts: { strict?: boolean } = {}): Promise<void> {
    for (const [i, l] of this.loaded.entries()) if (l.kind === 'core-factory') this.loaded[i] = await coreFromFactory(this.rt, l)
    for (const l of this.loaded) this.add(this.handleFor(l))
    const broken = this.loaded.flatMap((l) => l.found.broken ?? [])
    await this.coordination.open()
    await bootPlugins(this.handles, { slots: this.slots, failed: (h, err) => this.failed(h, err), stop: () => this.stop() }, { ...opts, broken })
    for (const h of this.handles) if (h.status().state === 'running') coreEntry(this.coordination, h, 'plugin/started')
  }

  /** Once the faces listen: the supervisor is running. */
  running(): void {
    this.state = 'running'
    const failed = this.handles.filter((h) => h.status().state === 'failed').length
    this.log.info({ plugins: this.handles.length, failed }, `${this.app} running`)
  }

  private handleFor(l: Loaded): PluginHandle {
    const { found } = l
    if (l.kind === 'failed') {
      // The only word a plugin that never loaded gets: under pm2 the log is where one looks first.
      this.log.error({ plugin: found.name, err: forLog(l.error) }, `plugin "${found.name}" failed to load: ${errorMessage(l.error)}`)
      return new FailedPlugin(found.name, l.error, found.manifest, found.shadowed, found.declared, found)
    }
    const m = found.manifest!
    if (l.kind === 'worker') return new WorkerPlugin({ name: m.name, manifest: m, entry: entryOf(found), rootPath: found.dir, options: l.options, shadowed: found.shadowed, rt: this.rt })
    if (l.kind === 'core-factory') throw new OutriggerError('RIG_ERR_PLUGIN_LOAD', `plugin "${m.name}": its factory was not called`)
    const plugin = new CorePlugin(m.name, m, l.def, l.ctx ?? coreContext(this.rt, m.name, m.version, found.dir, l.options), this.rt, found.shadowed)
    this.coordination.useHandlers(m.name, l.def.coordination)
    plugin.register()
    return plugin
  }
  private add(h: PluginHandle): void {
    this.handles.push(h)
    this.byName.set(h.name, h)
  }
  private failed(h: PluginHandle, err: unknown): void {
    h.fail(err)
    coreEntry(this.coordination, h, 'plugin/failed')
    this.offBus(h)
    this.log.error({ plugin: h.name, err: forLog(err) }, `plugin "${h.name}" failed: ${errorMessage(err)}`)
  }

  private offBus(h: PluginHandle): void {
    this.bus.hooks.removePlugin(h.name)
    this.bus.pipes.removePlugin(h.name)
  }
  emit(event: string, payload?: unknown): void {
    if (this.state === 'stopping') throw new OutriggerError('RIG_ERR_CLOSED', `emit "${event}": the supervisor is stopping; events are no longer accepted`)
    // From plugin code (ctx.emit, a hook calling into the host): what the bus schedules is the
    // supervisor's, not the plugin's (src/supervision/blame.ts).
    if (runningAs() === undefined) this.bus.emit(event, payload)
    else outside(() => this.bus.emit(event, payload))
  }
  emitDurable(event: string, payload?: unknown): Promise<void> {
    return emitDurable(this.workerPlugins(), () => this.emit(event, payload))
  }
  flush(): Promise<void> {
    return flushJournals(this.workerPlugins())
  }
  private workerPlugins(): WorkerPlugin[] {
    return this.handles.filter((h): h is WorkerPlugin => h instanceof WorkerPlugin)
  }
  pipe<T>(event: string, payload: T): Promise<T> {
    if (this.state === 'stopping') return Promise.reject(new OutriggerError('RIG_ERR_CLOSED', `pipe "${event}": the supervisor is stopping`))
    return this.bus.pipe(event, payload)
  }
  async call<R>(target: string, args?: unknown): Promise<R> {
    const dot = target.indexOf('.')
    const plugin = dot > 0 ? this.byName.get(target.slice(0, dot)) : undefined
    if (!plugin) throw new OutriggerError('RIG_ERR_UNKNOWN_TARGET', `call "${target}": no plugin "${target.slice(0, Math.max(dot, 0)) || target}" is loaded (use "plugin.function")`)
    // The call's own machinery (RPC, timeouts, restarts) runs unnamed; this async function's
    // promise is the caller's, so a rejection its caller drops is still blamed on the caller.
    return (await outside(() => plugin.call(target.slice(dot + 1), args))) as R
  }

  /** The host error policy's isolation: see `isolateCore` (isolate.ts). */
  isolate(who: Culprit, error: unknown): IsolateOutcome {
    return isolateCore(this, this.byName, this.slots, (h) => this.offBus(h), who, error)
  }

  /** The one request path (src/protocol/execute.ts); run unnamed, as `call` is. */
  execute(request: ExecuteRequest, opts?: ExecuteOptions): Promise<Envelope> {
    return outside(() => execute(this.requests, request, opts))
  }
  routes(): string[] {
    return this.handles.flatMap((h) => (h instanceof CorePlugin ? h.actions().map((a) => `${h.name}/${a}`) : []))
  }
  status(): StatusReport {
    return withLogFigures(statusReport({ app: this.app, startedAt: this.startedAt, state: this.state, handles: this.handles, loop: this.loop, drops: this.drops, brokenOf: (name) => this.loaded.find((l) => l.found.name === name)?.found.broken ?? [] }), this.coordination)
  }
  clusterStatus(): Promise<ClusterReport> {
    return clusterReport(this.app, this.rt.cluster)
  }
  pluginFolder(name: string): { path: string; outside: boolean } | undefined {
    const found = this.loaded.find((l) => l.found.name === name)?.found
    return found && { path: found.dir, outside: found.outside }
  }
  private workerPlugin(name: string): WorkerPlugin {
    const h = this.byName.get(name)
    if (!h) throw new OutriggerError('RIG_ERR_UNKNOWN_PLUGIN', `no plugin "${name}" is loaded (loaded: ${[...this.byName.keys()].join(', ') || 'none'})`)
    if (!(h instanceof WorkerPlugin)) throw new OutriggerError('RIG_ERR_UNKNOWN_PLUGIN', `plugin "${name}" is not a running worker plugin; only worker plugins keep dead letters`)
    return h
  }

  profile(name: string, opts: ProfileOptions = {}): Promise<ProfileReport> {
    return profileWorker(this.byName.get(name), name, opts, [...this.byName.keys()])
  }

  /** Operator restart (plugin-live.ts): a worker plugin comes back, a core plugin is refused. */
  async restartPlugin(name: string): Promise<void> {
    return restartPlugin(name, this.deps(`restart "${name}"`))
  }

  /** Live reload, start and stop of one plugin (plugin-live.ts). */
  async reload(name: string): Promise<ReloadResult> { return reloadPlugin(name, this.deps(`reload "${name}"`)) }
  async startPlugin(name: string): Promise<void> { return startPlugin(name, this.deps(`start "${name}"`)) }
  async stopPlugin(name: string): Promise<void> { return stopPlugin(name, this.deps(`stop "${name}"`)) }

  /** What a live change needs; refused once stopping. */
  private deps(what: string): ReloadDeps {
    if (this.state === 'stopping') throw new OutriggerError('RIG_ERR_CLOSED', `${what}: the supervisor is stopping`)
    const { pluginsDir, configFile } = this.opts
    return liveDeps({
      app: this.app, config: this.config, rt: this.rt, pluginsDir, configFile, providers: this.slots.providers,
      handles: this.handles, byName: this.byName, loaded: this.loaded,
      handleFor: (l) => this.handleFor(l),
      offBus: (h) => this.offBus(h),
      failed: (h, err) => this.failed(h, err),
      handlerSink: () => this.handlerSink,
    })
  }
  listDeadLetters(plugin: string): Promise<DeadLetter[]> {
    return this.workerPlugin(plugin).deadLetters.list()
  }

  async replayDeadLetters(plugin: string, sel?: LetterSelection): Promise<ReplayResult> {
    return this.workerPlugin(plugin).replayDeadLetters(sel)
  }

  async purgeDeadLetters(plugin: string, sel?: LetterSelection): Promise<PurgeResult> {
    return this.workerPlugin(plugin).purgeDeadLetters(sel)
  }

  stop(): Promise<void> {
    this.stopping ??= this.shutdown()
    return this.stopping
  }

  private async shutdown(): Promise<void> {
    this.state = 'stopping'
    const deadline = Date.now() + this.config.timeouts.drainMs
    await Promise.all(this.handles.map((h) => h.drain(deadline).catch((err) => this.log.error({ plugin: h.name, err }, 'drain failed'))))
    this.abort.abort(new OutriggerError('RIG_ERR_CLOSED', 'the supervisor is stopping'))
    for (const h of [...this.handles].reverse()) {
      await h.close().catch((err) => this.log.error({ plugin: h.name, err }, `close of "${h.name}" failed: ${errorMessage(err)}`))
      if (h.status().state === 'stopped') coreEntry(this.coordination, h, 'plugin/stopped')
    }
    for (const close of [...this.closers].reverse()) await close().catch((err) => this.log.error({ err }, 'shutdown step failed'))
    this.loop.close()
    this.log.info(`${this.app} stopped`)
  }
}
