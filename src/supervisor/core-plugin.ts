import { performance } from 'node:perf_hooks'
import { timeoutsFor, type PluginTimeouts } from '../config/config.js'
import { OutriggerError, errorCode, errorMessage } from '../errors.js'
import type { Manifest } from '../manifest/schema.js'
import type { ActionFn, ActionRequest, HookFn, PluginContext, PluginDefinition } from '../plugin/types.js'
import { asPlugin, nameDrain, outside, type Culprit } from '../supervision/blame.js'
import { Latency } from '../supervision/latency.js'
import type { PluginHandle, SupervisorRuntime } from './plugin-handle.js'
import type { PluginState, PluginStatus } from './status-types.js'
import { withTimeout } from './timeout.js'
import { CoreIo } from './core-io.js'

/**
 * A core plugin: runs in the host's event loop. Hooks are deferred to a microtask so `emit`
 * returns before any listener runs; pipes and actions are awaited by whoever asked.
 */
export class CorePlugin implements PluginHandle {
  readonly type = 'core'
  private state: PluginState = 'starting'
  private lastError: PluginStatus['lastError'] = null
  private readonly counters = { received: 0, processed: 0, failed: 0, inFlight: 0 }
  readonly latency = new Latency()
  /** Names this plugin's calls for the host error policy; undefined when nobody handles them. */
  private readonly culprit: Culprit | undefined
  private readonly timeouts: PluginTimeouts
  /** Its source and sinks (core-io.ts). */
  private readonly io: CoreIo

  constructor(
    readonly name: string,
    readonly manifest: Manifest,
    readonly def: PluginDefinition,
    readonly ctx: PluginContext,
    private readonly rt: SupervisorRuntime,
    private readonly shadowed: string[],
  ) {
    this.culprit = rt.blame ? Object.freeze({ plugin: name, owner: rt.blame }) : undefined
    this.timeouts = timeoutsFor(rt.config, name)
    this.io = new CoreIo(name, def, ctx, rt, this.culprit, (err) => this.fail(err))
  }

  /** Puts the plugin's hooks and pipes on the bus (before init, so init may emit to itself). */
  register(): void {
    for (const [pattern, fn] of Object.entries(this.def.hooks ?? {})) {
      this.rt.bus.hooks.add({ plugin: this.name, pattern, deliver: (event, payload) => this.deliver(fn, pattern, event, payload) })
    }
    for (const [pattern, fn] of Object.entries(this.def.pipes ?? {})) {
      // Pipes sit on request paths: the meta object is made once per event name, not per call.
      const metas = new Map<string, { event: string; subscription: string }>()
      const meta = (event: string) => metas.get(event) ?? (metas.size < 1000 ? metas.set(event, Object.freeze({ event, subscription: pattern })).get(event)! : { event, subscription: pattern })
      // Named only when someone acts on blame: library mode keeps the bare call.
      const culprit = this.culprit
      const run = culprit ? (payload: unknown, event: string) => asPlugin(culprit, fn, payload, this.ctx, meta(event)) : (payload: unknown, event: string) => fn(payload, this.ctx, meta(event))
      this.rt.bus.pipes.add({ plugin: this.name, pattern, run })
    }
    this.io.register()
  }

  private deliver(fn: HookFn, subscription: string, event: string, payload: unknown): void {
    this.counters.received++
    this.counters.inFlight++
    // One microtask drains every delivery queued in this tick: a microtask per event cost more
    // than the listener itself for small hooks.
    this.pending.push(fn, subscription, event, payload)
    if (this.pending.length === 4) queueMicrotask(this.runPending)
  }

  /** Deliveries waiting for the drain, flattened as [fn, subscription, event, payload, …]. */
  private pending: unknown[] = []

  private readonly runPending = (): void => {
    const batch = this.pending
    this.pending = []
    const culprit = this.culprit
    for (let i = 0; i < batch.length; i += 4) {
      const fn = batch[i] as HookFn
      const subscription = batch[i + 1] as string
      const event = batch[i + 2] as string
      const started = performance.now()
      let out: unknown
      // Only the listener runs as the plugin (src/supervision/blame.ts): this drain is a microtask
      // of its own, so naming it costs two stores per hook rather than an `als.run`; it is
      // un-named before the `then` below and the settle (which may emit hook:onError), which are
      // the supervisor's.
      if (culprit) nameDrain(culprit)
      try {
        out = fn(batch[i + 3], this.ctx, { event, subscription })
      } catch (err) {
        if (culprit) nameDrain(undefined)
        this.settle(started, event, err)
        continue
      }
      if (culprit) nameDrain(undefined)
      if (out && typeof (out as Promise<unknown>).then === 'function') {
        ;(out as Promise<unknown>).then(
          () => this.settle(started, event),
          (err) => this.settle(started, event, err ?? new Error('hook rejected')),
        )
      } else this.settle(started, event)
    }
  }

  private settle(started: number, event: string, err?: unknown): void {
    this.latency.record(performance.now() - started)
    this.counters.inFlight--
    if (err === undefined) this.counters.processed++
    else {
      this.counters.failed++
      this.lastError = { code: errorCode(err), message: errorMessage(err) }
      outside(() => this.rt.bus.hookFailed(this.name, event, err))
    }
  }

  async start(): Promise<void> {
    await this.step('init')
  }

  async ready(): Promise<void> {
    await this.step('whenReady')
    this.state = 'running'
    this.io.startSource()
  }

  drain(deadline: number): Promise<void> {
    return this.io.stop(deadline)
  }

  async close(): Promise<void> {
    if (this.state === 'failed' || this.state === 'stopped') return
    try {
      await this.step('close')
    } finally {
      this.state = 'stopped'
    }
  }

  /**
   * Runs one lifecycle step under this plugin's limit. `close` fails with its own code: a plugin
   * that cannot let go is a different fault from one that cannot start.
   */
  private async step(name: 'init' | 'whenReady' | 'close'): Promise<void> {
    const fn = this.def[name]
    if (!fn) return
    const ms = this.timeouts[`${name}Ms`]
    const timeoutCode = name === 'close' ? 'RIG_ERR_PLUGIN_CLOSE' : 'RIG_ERR_PLUGIN_INIT_TIMEOUT'
    const raise = `raise plugins.${this.name}.timeouts.${name}Ms (or timeouts.${name}Ms for every plugin) in the host config, or fix the plugin`
    try {
      await withTimeout(() => asPlugin(this.culprit, fn, this.ctx), ms, timeoutCode, `plugin "${this.name}": ${name} did not finish within ${ms} ms (${raise})`)
    } catch (err) {
      if (err instanceof OutriggerError && err.code === timeoutCode) throw err
      throw new OutriggerError(name === 'close' ? 'RIG_ERR_PLUGIN_CLOSE' : 'RIG_ERR_PLUGIN_INIT', `plugin "${this.name}": ${name} threw: ${errorMessage(err)}`, { cause: err })
    }
  }

  fail(error: unknown): void {
    this.state = 'failed'
    this.lastError = { code: errorCode(error), message: errorMessage(error) }
  }

  /**
   * An error escaped from work this plugin started (src/supervision/blame.ts): it is counted in
   * `events.failed` (the status report's shape is a contract, and a core plugin's counters have
   * no identity to keep), and the first one fails the plugin. Returns whether this one failed it
   * (the caller then takes it off the bus and logs).
   */
  escaped(error: unknown): boolean {
    this.counters.failed++
    if (this.state === 'failed') return false
    this.fail(error)
    return true
  }

  async call(fn: string, args: unknown): Promise<unknown> {
    if (this.state === 'failed') throw new OutriggerError('RIG_ERR_UNKNOWN_TARGET', `plugin "${this.name}" has failed, so "${this.name}.${fn}" cannot run: ${this.lastError?.message ?? 'no error recorded'}`)
    const f = own(this.def.functions, fn)
    if (!f) throw new OutriggerError('RIG_ERR_UNKNOWN_TARGET', `plugin "${this.name}" has no function "${fn}" (it has: ${Object.keys(this.def.functions ?? {}).join(', ') || 'none'})`)
    const ms = this.timeouts.callMs
    return withTimeout(() => asPlugin(this.culprit, f, args, this.ctx), ms, 'RIG_ERR_CALL_TIMEOUT', `"${this.name}.${fn}" did not answer within ${ms} ms (raise plugins.${this.name}.timeouts.callMs or timeouts.callMs in the host config, or make it settle sooner)`)
  }

  /** An action of a plugin that has not failed (a failed plugin answers no route). */
  action(controller: string, action: string): ActionFn | undefined {
    return this.state === 'failed' ? undefined : own(own(this.def.controllers, controller), action)
  }

  /** `controller/action` for every action, or none once the plugin failed. */
  actions(): string[] {
    return this.state === 'failed' ? [] : this.declaredActions()
  }

  private declaredActions(): string[] {
    return Object.entries(this.def.controllers ?? {}).flatMap(([c, actions]) => Object.keys(actions).map((a) => `${c}/${a}`))
  }

  runAction(fn: ActionFn, request: ActionRequest): unknown {
    return asPlugin(this.culprit, fn, request, this.ctx)
  }

  status(): PluginStatus {
    const def = this.def
    return this.io.withSinks({
      name: this.name,
      version: this.manifest.version,
      type: 'core',
      isolation: 'inline',
      delivery: 'at-most-once',
      state: this.state,
      hooks: Object.keys(def.hooks ?? {}),
      pipes: Object.keys(def.pipes ?? {}),
      controllers: this.declaredActions(),
      functions: Object.keys(def.functions ?? {}),
      shadowed: this.shadowed,
      restarts: 0,
      lastError: this.lastError,
      queue: { depth: 0, max: 0, dropped: 0, rejected: 0 },
      events: { ...this.counters, redelivered: 0, recovered: 0, deadLettered: 0, lost: 0 },
      handlerMs: this.latency.percentiles(),
      instances: [],
    })
  }
}

/**
 * A plugin's own entry only: names come from requests and callers, and a plain lookup would also
 * find what every object inherits (`/_/shop/constructor/assign` would call `Object.assign`).
 */
function own<T>(table: Record<string, T> | undefined, key: string): T | undefined {
  return table && Object.hasOwn(table, key) ? table[key] : undefined
}
