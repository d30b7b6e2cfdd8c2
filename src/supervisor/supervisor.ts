import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { Bus } from '../bus/bus.js'
import { loadConfig, parseConfig, type HostConfig } from '../config/config.js'
import { OutriggerError, errorMessage } from '../errors.js'
import type { ActionRequest, PluginLogger, ServiceProviders } from '../plugin/types.js'
import { discover } from '../registry/discovery.js'
import { droppedLines } from '../services/log-output.js'
import { defaultLogger } from '../services/logger.js'
import { LmdbStore } from '../state/lmdb-store.js'
import { MemoryStore } from '../state/memory-store.js'
import type { StateStore } from '../state/store.js'
import { VERSION } from '../version.js'
import { WorkerPlugin } from '../delivery/worker-plugin.js'
import { coreContext } from './context.js'
import { CorePlugin } from './core-plugin.js'
import { EventLoopMonitor } from './event-loop.js'
import { FailedPlugin } from './failed-plugin.js'
import { DropWatch, rollupHealth } from './health.js'
import { entryOf, loadPlugins, type Loaded } from './load-plugins.js'
import type { PluginHandle, SupervisorRuntime } from './runtime.js'
import type { StatusReport, SupervisorState } from './status-types.js'
import type { ActionTarget, DeadLetter, Supervisor, SupervisorOptions } from './types.js'
import { defaultAuth, defaultPermission } from '../http/default-slots.js'

/** Boots a supervisor: discover, load, resolve service slots, start plugins in order. */
export async function startSupervisor(opts: SupervisorOptions = {}): Promise<Supervisor> {
  const app = opts.app ?? 'outrigger'
  const { config, baseDir } = await resolveConfig(opts.config)
  const pluginsDir = path.resolve(opts.pluginsDir ?? path.resolve(baseDir, config.pluginsDir))
  const stateDir = path.resolve(opts.stateDir ?? path.resolve(baseDir, config.stateDir))
  const found = await discover(pluginsDir)
  const loaded = await loadPlugins(found.plugins, config)
  const sup = new OutriggerSupervisor(app, config, stateDir, loaded, opts)
  for (const w of found.warnings) sup.log.warn(w)
  await sup.boot(opts)
  return sup
}

async function resolveConfig(config: SupervisorOptions['config']): Promise<{ config: HostConfig; baseDir: string }> {
  if (typeof config === 'string') return loadConfig(config)
  return { config: parseConfig(config ?? {}, 'config'), baseDir: process.cwd() }
}

class OutriggerSupervisor implements Supervisor {
  readonly log: PluginLogger
  readonly services: Required<Pick<ServiceProviders, 'auth' | 'permission'>>
  private readonly bus: Bus
  private readonly rt: SupervisorRuntime
  private readonly handles: PluginHandle[] = []
  private readonly byName = new Map<string, PluginHandle>()
  private readonly abort = new AbortController()
  private readonly loop = new EventLoopMonitor()
  private readonly drops = new DropWatch()
  private readonly startedAt = Date.now()
  private state: SupervisorState = 'starting'
  private stopping?: Promise<void>
  private closers: Array<() => Promise<void>> = []

  constructor(
    readonly app: string,
    readonly config: HostConfig,
    private readonly stateDir: string,
    private readonly loaded: Loaded[],
    opts: SupervisorOptions,
  ) {
    const providers = loaded.flatMap((l) => (l.kind === 'core' && l.def.provides ? [{ plugin: l.found.name, provides: l.def.provides }] : []))
    const pick = <K extends keyof ServiceProviders>(slot: K) => providers.findLast((p) => p.provides[slot])
    const base = opts.logger ?? defaultLogger(app, config.logLevel)
    const logSlot = pick('logger')
    this.log = logSlot ? logSlot.provides.logger!(base) : base
    this.services = {
      auth: pick('auth')?.provides.auth ?? defaultAuth(config.http)!,
      permission: pick('permission')?.provides.permission ?? defaultPermission!,
    }
    this.bus = new Bus({ log: this.log, pipeWarnMs: config.timeouts.pipeWarnMs, maxConcurrentPipes: config.maxConcurrentPipes })
    this.rt = {
      app,
      config,
      bus: this.bus,
      log: this.log,
      stateDir,
      store: undefined as unknown as StateStore,
      emit: (event, payload) => this.emit(event, payload),
      call: (target, args) => this.call(target, args),
      signal: this.abort.signal,
    }
  }

  async boot(opts: SupervisorOptions): Promise<void> {
    mkdirSync(this.stateDir, { recursive: true })
    this.rt.store = await this.openStore(opts)
    this.closers.push(() => this.rt.store.close())
    for (const l of this.loaded) this.add(this.handleFor(l))
    // Worker plugins first (in parallel: they are independent), so that events emitted by core
    // plugins during init already find their hooks; then core init and whenReady, in order.
    await Promise.all(this.handles.filter((h) => h.type === 'worker').map((h) => this.startOne(h)))
    for (const h of this.handles) if (h.type === 'core') await this.startOne(h)
    for (const h of this.handles) if (h.type === 'core' && h.status().state !== 'failed') await h.ready().catch((err) => this.failed(h, err))
    const failed = this.handles.filter((h) => h.status().state === 'failed')
    if (opts.strict && failed.length) {
      const list = failed.map((h) => `${h.name}: ${h.status().lastError?.message}`).join('; ')
      await this.stop()
      throw new OutriggerError('RIG_ERR_STRICT_START', `--strict: ${failed.length} plugin(s) failed, refusing to start: ${list}`)
    }
    try {
      await this.startServers(opts)
    } catch (err) {
      // A taken socket or port must not leave the plugins that did start running behind us.
      await this.stop()
      throw err
    }
    this.state = 'running'
    this.log.info({ plugins: this.handles.length, failed: failed.length }, `${this.app} running`)
  }

  private async openStore(opts: SupervisorOptions): Promise<StateStore> {
    const slot = this.loaded.findLast((l) => l.kind === 'core' && l.def.provides?.storage)
    if (slot && slot.kind === 'core') return slot.def.provides!.storage!({ stateDir: this.stateDir })
    return opts.store === 'memory' ? new MemoryStore() : new LmdbStore(path.join(this.stateDir, 'store'))
  }

  private handleFor(l: Loaded): PluginHandle {
    const { found } = l
    if (l.kind === 'failed') return new FailedPlugin(found.name, l.error, found.manifest, found.shadowed, found.declared)
    const m = found.manifest!
    if (l.kind === 'worker') return new WorkerPlugin({ name: m.name, manifest: m, entry: entryOf(found), rootPath: found.dir, options: l.options, shadowed: found.shadowed, rt: this.rt })
    const plugin = new CorePlugin(m.name, m, l.def, coreContext(this.rt, m.name, m.version, found.dir, l.options), this.rt, found.shadowed)
    plugin.register()
    return plugin
  }

  private add(h: PluginHandle): void {
    this.handles.push(h)
    this.byName.set(h.name, h)
  }

  private async startOne(h: PluginHandle): Promise<void> {
    try {
      await h.start()
    } catch (err) {
      this.failed(h, err)
    }
  }

  private failed(h: PluginHandle, err: unknown): void {
    h.fail(err)
    this.bus.hooks.removePlugin(h.name)
    this.bus.pipes.removePlugin(h.name)
    this.log.error({ plugin: h.name, err }, `plugin "${h.name}" failed: ${errorMessage(err)}`)
  }

  private async startServers(opts: SupervisorOptions): Promise<void> {
    if (opts.control !== false) {
      const { startControlServer } = await import('../control/server.js')
      const runtimeDir = typeof opts.control === 'object' ? opts.control.runtimeDir : undefined
      const server = await startControlServer(this, { app: this.app, runtimeDir })
      this.closers.unshift(() => server.close())
    }
    if (opts.http !== false) {
      const { startHttpServer } = await import('../http/server.js')
      const o = typeof opts.http === 'object' ? opts.http : {}
      const h = this.config.http
      const server = await startHttpServer(this, { host: o.host ?? h.host, port: o.port ?? h.port, maxBodyBytes: h.maxBodyBytes, requestTimeoutMs: h.requestTimeoutMs })
      this.httpUrl = server.url
      for (const p of this.handles) if (p.latency) p.latency.sink = (ms) => server.metrics.observeHandler(p.name, ms)
      this.closers.unshift(() => server.close())
    }
  }

  /** The HTTP API's base URL once it listens (useful with port 0). */
  httpUrl: string | undefined

  emit(event: string, payload?: unknown): void {
    if (this.state === 'stopping') throw new OutriggerError('RIG_ERR_CLOSED', `emit "${event}": the supervisor is stopping; events are no longer accepted`)
    this.bus.emit(event, payload)
  }

  pipe<T>(event: string, payload: T): Promise<T> {
    if (this.state === 'stopping') return Promise.reject(new OutriggerError('RIG_ERR_CLOSED', `pipe "${event}": the supervisor is stopping`))
    return this.bus.pipe(event, payload)
  }

  async call<R>(target: string, args?: unknown): Promise<R> {
    const dot = target.indexOf('.')
    const plugin = dot > 0 ? this.byName.get(target.slice(0, dot)) : undefined
    if (!plugin) throw new OutriggerError('RIG_ERR_UNKNOWN_TARGET', `call "${target}": no plugin "${target.slice(0, Math.max(dot, 0)) || target}" is loaded (use "plugin.function")`)
    return (await plugin.call(target.slice(dot + 1), args)) as R
  }

  async runAction(target: ActionTarget, request: ActionRequest): Promise<unknown> {
    const plugin = this.byName.get(target.plugin)
    // On the request path: ask the plugin directly rather than build its status report.
    const fn = plugin instanceof CorePlugin ? plugin.action(target.controller, target.action) : undefined
    if (!fn) throw new OutriggerError('RIG_ERR_UNKNOWN_TARGET', `no action ${target.plugin}/${target.controller}/${target.action} (see GET /_info for the routes)`)
    const scope = `${target.plugin}/${target.controller}`
    const Action = target.action.charAt(0).toUpperCase() + target.action.slice(1)
    const req = await this.pipe(`${scope}:before${Action}`, request)
    const result = await (plugin as CorePlugin).runAction(fn, req)
    this.bus.emit(`${scope}:after${Action}`, { request: req, result })
    return result
  }

  routes(): string[] {
    return this.handles.flatMap((h) => (h instanceof CorePlugin ? h.actions().map((a) => `${h.name}/${a}`) : []))
  }

  status(): StatusReport {
    const plugins = this.handles.map((h) => h.status())
    const eventLoop = this.loop.snapshot()
    const mem = process.memoryUsage()
    return {
      app: this.app,
      version: VERSION,
      pid: process.pid,
      uptimeMs: Date.now() - this.startedAt,
      state: this.state,
      health: rollupHealth(plugins, eventLoop.p99Ms, this.drops.dropping(plugins)),
      eventLoop,
      memory: { rssMb: Math.round(mem.rss / 1048576), heapUsedMb: Math.round(mem.heapUsed / 1048576) },
      logs: { dropped: droppedLines() },
      plugins,
    }
  }

  private workerPlugin(name: string): WorkerPlugin {
    const h = this.byName.get(name)
    if (!h) throw new OutriggerError('RIG_ERR_UNKNOWN_PLUGIN', `no plugin "${name}" is loaded (loaded: ${[...this.byName.keys()].join(', ') || 'none'})`)
    if (!(h instanceof WorkerPlugin)) throw new OutriggerError('RIG_ERR_UNKNOWN_PLUGIN', `plugin "${name}" is not a running worker plugin; only worker plugins restart and keep dead letters`)
    return h
  }

  async restartPlugin(name: string): Promise<void> {
    await this.workerPlugin(name).operatorRestart()
  }

  listDeadLetters(plugin: string): Promise<DeadLetter[]> {
    return this.workerPlugin(plugin).deadLetters.list()
  }

  replayDeadLetters(plugin: string): Promise<number> {
    return this.workerPlugin(plugin).replayDeadLetters()
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
    }
    for (const close of this.closers) await close().catch((err) => this.log.error({ err }, 'shutdown step failed'))
    this.loop.close()
    this.log.info(`${this.app} stopped`)
  }
}
