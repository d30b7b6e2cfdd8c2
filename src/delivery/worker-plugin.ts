import { OutriggerError, errorCode, errorMessage, type SerializedError } from '../errors.js'
import type { HostBridge, WorkerInstance } from '../hosts/worker-host.js'
import { hostFor } from '../hosts/select.js'
import type { Manifest, WorkerSettings } from '../manifest/schema.js'
import { pluginState } from '../state/plugin-state.js'
import { watchHeartbeat } from '../supervision/heartbeat.js'
import { RestartPolicy } from '../supervision/restart-policy.js'
import { pluginDataDir } from '../supervisor/context.js'
import type { PluginHandle, SupervisorRuntime } from '../supervisor/plugin-handle.js'
import type { InstanceState, InstanceStatus, PluginState, PluginStatus } from '../supervisor/status-types.js'
import { DeadLetters } from './dead-letters.js'
import { Dispatcher } from './dispatcher.js'
import type { Pending } from './queue.js'

export interface WorkerPluginInit {
  name: string
  manifest: Manifest
  entry: string
  rootPath: string
  options: unknown
  shadowed: string[]
  rt: SupervisorRuntime
}

interface Slot {
  id: number
  instance?: WorkerInstance
  state: InstanceState
  startedAt: number
  restarts: number
  /** Set when we asked the instance to go (stop, recycle, kill for silence): not a crash. */
  expected?: 'stop' | 'recycle'
  unwatch?: () => void
  timer?: NodeJS.Timeout
  /** A start under way: `close` waits for it, or the new instance would outlive the stop. */
  spawning?: Promise<void>
  beat?: { memoryMb: number; eventLoopP99Ms: number; at: number }
}

/**
 * A worker plugin: its instances (threads or children), its queue and dispatcher, and their
 * supervision (heartbeats, limits, restarts with backoff, quarantine on a crash loop).
 */
export class WorkerPlugin implements PluginHandle {
  readonly type = 'worker'
  readonly name: string
  readonly deadLetters: DeadLetters
  private readonly cfg: WorkerSettings
  private readonly dispatcher: Dispatcher
  private readonly policy: RestartPolicy
  private readonly slots: Slot[]
  private state: PluginState = 'starting'
  private lastError: PluginStatus['lastError'] = null
  private restarts = 0
  private hooks: string[] = []
  private functions: string[] = []
  private registered = false
  private closing = false
  private rr = 0
  private idleWaiters: Array<() => void> = []

  constructor(private readonly init: WorkerPluginInit) {
    this.name = init.name
    this.cfg = init.manifest.worker!
    this.deadLetters = new DeadLetters(init.rt.store, this.name)
    this.policy = new RestartPolicy(this.cfg.restart)
    this.slots = Array.from({ length: this.cfg.instances }, (_, id) => ({ id, state: 'starting', startedAt: 0, restarts: 0 }))
    this.dispatcher = new Dispatcher(this.cfg, {
      report: (event, error) => this.report(event, error),
      deadLetter: (p, error) => this.toDeadLetters(p, error),
      onIdle: () => this.idleWaiters.splice(0).forEach((f) => f()),
      onLaneEmptied: (id) => {
        const slot = this.slots[id]
        if (slot.expected === 'recycle' && slot.instance) void slot.instance.stop()
      },
    })
  }

  private get log() {
    return this.init.rt.log
  }

  // ── lifecycle ────────────────────────────────────────────────────────────────────────────

  /** First start: every instance must come up, or the plugin is failed (never a respawn loop). */
  async start(): Promise<void> {
    const started = await Promise.allSettled(this.slots.map((s) => this.spawn(s)))
    const bad = started.find((r) => r.status === 'rejected')
    if (bad) {
      this.closing = true
      await Promise.all(this.slots.map((s) => this.halt(s, 'stop')))
      throw (bad as PromiseRejectedResult).reason
    }
    this.setState('running')
  }

  async ready(): Promise<void> {}

  private spawn(slot: Slot): Promise<void> {
    const started = this.startInstance(slot)
    slot.spawning = started
    return started.finally(() => {
      if (slot.spawning === started) slot.spawning = undefined
    })
  }

  private async startInstance(slot: Slot): Promise<void> {
    slot.state = 'starting'
    const m = this.init.manifest
    const instance = await hostFor(this.cfg.isolation).start({
      plugin: this.name,
      version: m.version,
      instanceId: slot.id,
      entry: this.init.entry,
      rootPath: this.init.rootPath,
      dataDir: pluginDataDir(this.init.rt.stateDir, this.name),
      options: this.init.options,
      limits: this.cfg.limits,
      // A plugin function is held to the same limit as a hook.
      callTimeoutMs: this.cfg.limits.handlerTimeoutMs,
      nice: this.init.rt.config.workerNice,
      bridge: this.bridge(),
    })
    if (this.closing || this.state === 'quarantined') {
      await instance.kill()
      slot.state = 'stopped'
      return
    }
    slot.instance = instance
    slot.state = 'running'
    slot.startedAt = Date.now()
    slot.expected = undefined
    slot.beat = undefined
    this.registerHooks(instance)
    instance.exited.then((info) => this.exited(slot, instance, info.error ?? new Error(`exit code ${info.code} signal ${info.signal}`), info.reason !== 'stopped' || info.code !== 0))
    slot.unwatch = watchHeartbeat(instance, this.cfg.limits.unresponsiveMs, {
      beat: (h) => this.beat(slot, instance, h),
      silent: () => this.unresponsive(slot, instance, `no heartbeat answer within ${this.cfg.limits.unresponsiveMs} ms (an endless loop or a blocked event loop?)`),
    })
    this.dispatcher.attach(slot.id, instance)
  }

  /** Hooks are known only from the first instance's handshake: the host never imports the code. */
  private registerHooks(instance: WorkerInstance): void {
    if (this.registered) return
    this.registered = true
    this.hooks = instance.info.hooks
    this.functions = instance.info.functions
    for (const pattern of this.hooks) {
      this.init.rt.bus.hooks.add({ plugin: this.name, pattern, deliver: (event, payload) => this.dispatcher.enqueue(pattern, event, payload) })
    }
  }

  private beat(slot: Slot, instance: WorkerInstance, h: { memoryMb: number; eventLoopP99Ms: number; busyMs: number }): void {
    slot.beat = { memoryMb: Math.round(h.memoryMb * 10) / 10, eventLoopP99Ms: Math.round(h.eventLoopP99Ms * 100) / 100, at: Date.now() }
    if (slot.state === 'unresponsive') slot.state = 'running'
    if (h.busyMs > this.cfg.limits.handlerTimeoutMs) {
      this.unresponsive(slot, instance, `a hook has run for ${Math.round(h.busyMs)} ms, past limits.handlerTimeoutMs (${this.cfg.limits.handlerTimeoutMs})`)
    } else if (this.cfg.isolation === 'process' && h.memoryMb > this.cfg.limits.memoryMb && slot.expected === undefined) {
      this.recycle(slot, instance, h.memoryMb)
    }
  }

  private unresponsive(slot: Slot, instance: WorkerInstance, why: string): void {
    if (slot.instance !== instance || slot.expected) return
    slot.state = 'unresponsive'
    this.noteError(new OutriggerError('RIG_ERR_WORKER_UNRESPONSIVE', `plugin "${this.name}" instance ${slot.id}: ${why}; terminating it`))
    void instance.kill()
  }

  /**
   * A child past its memory limit finishes (or gives back) its work before it goes: it takes no
   * new batches, and is stopped once its in-flight batches are answered.
   */
  private recycle(slot: Slot, instance: WorkerInstance, memoryMb: number): void {
    slot.expected = 'recycle'
    this.log.warn({ plugin: this.name, instance: slot.id, memoryMb }, `plugin "${this.name}" instance ${slot.id} uses ${memoryMb} MB, over limits.memoryMb (${this.cfg.limits.memoryMb}); recycling it`)
    const lane = this.dispatcher.lanes[slot.id]
    lane.accepting = false
    // With nothing in flight it goes now; otherwise the dispatcher says when its last batch is answered.
    if (lane.batches.length === 0) void instance.stop()
  }

  private exited(slot: Slot, instance: WorkerInstance, cause: Error, abnormal: boolean): void {
    if (slot.instance !== instance) return
    slot.unwatch?.()
    slot.instance = undefined
    this.dispatcher.laneDown(slot.id, cause)
    const expected = slot.expected
    const uptime = Date.now() - slot.startedAt
    if (this.closing || expected === 'stop') {
      slot.state = 'stopped'
      return
    }
    if (expected === 'recycle') return this.scheduleRespawn(slot, 0)
    this.noteError(slot.state === 'unresponsive' ? this.lastErrorAsError() : new OutriggerError('RIG_ERR_WORKER_EXITED', `plugin "${this.name}" instance ${slot.id} exited: ${cause.message}`, { cause }))
    const decision = this.policy.decide(abnormal, uptime)
    if (decision.action === 'restart') this.scheduleRespawn(slot, decision.delayMs)
    else if (decision.action === 'quarantine') this.quarantine()
    else {
      slot.state = 'stopped'
      this.refreshState()
    }
  }

  private scheduleRespawn(slot: Slot, delayMs: number): void {
    slot.state = 'restarting'
    this.refreshState()
    slot.timer = setTimeout(() => {
      slot.timer = undefined
      if (this.closing || this.state === 'quarantined') return
      slot.restarts++
      this.restarts++
      this.spawn(slot).then(
        () => this.refreshState(),
        (err) => {
          // A failed respawn is one more crash: the policy's backoff and intensity apply.
          this.noteError(err)
          const d = this.policy.decide(true, 0)
          if (d.action === 'restart') this.scheduleRespawn(slot, d.delayMs)
          else if (d.action === 'quarantine') this.quarantine()
          else slot.state = 'stopped'
        },
      )
    }, delayMs)
  }

  private quarantine(): void {
    const err = new OutriggerError(
      'RIG_ERR_CRASH_LOOP',
      `plugin "${this.name}" restarted more than ${this.cfg.restart.maxRestarts} times within ${this.cfg.restart.windowMs} ms and is quarantined; fix it, then run "outrigger restart ${this.name}"`,
    )
    this.noteError(err)
    this.setState('quarantined')
    for (const s of this.slots) {
      clearTimeout(s.timer)
      if (s.instance) void this.halt(s, 'stop')
      else s.state = 'stopped'
    }
  }

  /** Operator restart: forgives the crash history and brings every instance up again. */
  async operatorRestart(): Promise<void> {
    if (this.closing) throw new OutriggerError('RIG_ERR_CLOSED', `plugin "${this.name}": the supervisor is stopping`)
    this.policy.reset()
    for (const s of this.slots) clearTimeout(s.timer)
    await Promise.all(this.slots.map((s) => this.halt(s, 'stop')))
    this.setState('starting')
    await Promise.all(this.slots.map((s) => this.spawn(s).then(() => { s.restarts++; this.restarts++ })))
    this.lastError = null
    this.setState('running')
  }

  private async halt(slot: Slot, why: 'stop' | 'recycle', graceful = false): Promise<void> {
    const instance = slot.instance
    if (!instance) return
    slot.expected = why
    await (graceful ? instance.stop() : instance.kill()).catch(() => undefined)
    await instance.exited
  }

  async drain(deadline: number): Promise<void> {
    if (!this.dispatcher.idle() && this.slots.some((s) => s.instance)) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()))
        this.idleWaiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
  }

  async close(): Promise<void> {
    this.closing = true
    for (const s of this.slots) clearTimeout(s.timer)
    // A start under way ends first (it sees `closing` and kills what it started).
    await Promise.all(this.slots.map((s) => s.spawning?.catch(() => undefined)))
    await Promise.all(this.slots.map((s) => this.halt(s, 'stop', true)))
    // Whatever could not be drained leaves the books explicitly: dead letters or lost.
    this.dispatcher.abandon('the supervisor stopped before the event was delivered')
    if (this.state !== 'failed') this.setState('stopped')
  }

  get latency() {
    return this.dispatcher.latency
  }

  fail(error: unknown): void {
    this.noteError(error)
    this.setState('failed')
  }

  // ── calls, dead letters ──────────────────────────────────────────────────────────────────

  async call(fn: string, args: unknown): Promise<unknown> {
    const live = this.slots.filter((s) => s.instance && s.state === 'running')
    if (!live.length) throw new OutriggerError('RIG_ERR_WORKER_EXITED', `plugin "${this.name}" has no running instance to call "${fn}" (state ${this.state})`)
    if (this.functions.length && !this.functions.includes(fn)) {
      throw new OutriggerError('RIG_ERR_UNKNOWN_TARGET', `plugin "${this.name}" has no function "${fn}" (it has: ${this.functions.join(', ')})`)
    }
    return live[this.rr++ % live.length].instance!.call(fn, args)
  }

  private toDeadLetters(p: Pending, error: SerializedError | null): void {
    this.deadLetters
      .add({ event: p.event, subscription: p.subscription, payload: p.payload, attempts: p.attempts, error: error ? { code: error.code ?? null, message: error.message } : null })
      .catch((err) => this.log.error({ plugin: this.name, err }, `could not store a dead letter of "${p.event}": ${errorMessage(err)}`))
  }

  /** Re-enqueues every dead letter as a new receipt, removing it from the store. */
  async replayDeadLetters(): Promise<number> {
    const letters = await this.deadLetters.list()
    for (const l of letters) {
      await this.deadLetters.remove(l.id)
      this.dispatcher.enqueue(l.subscription, l.event, l.payload)
    }
    return letters.length
  }

  // ── reporting ────────────────────────────────────────────────────────────────────────────

  private bridge(): HostBridge {
    const state = pluginState(this.init.rt.store, this.name)
    // No child logger: the instance already stamps plugin and instance on every line, and pino
    // would write both keys twice.
    const log = this.log
    return {
      state: (op, key, value) => {
        switch (op) {
          case 'put': return state.putState(key, value)
          case 'get': return state.getState(key)
          case 'delete': return state.deleteState(key)
          case 'incr': return state.incrCounter(key, (value as number | undefined) ?? 1)
          case 'getCounter': return state.getCounter(key)
        }
      },
      emit: (event, payload) => this.init.rt.emit(event, payload),
      call: (target, args) => this.init.rt.call(target, args),
      log: (level, obj, msg) => {
        const fn = (log as unknown as Record<string, (o: unknown, m?: string) => void>)[level]
        ;(typeof fn === 'function' ? fn : log.info).call(log, obj, msg)
      },
    }
  }

  private report(event: string, error: unknown): void {
    const code = errorCode(error)
    this.log.error({ plugin: this.name, event, code }, `plugin "${this.name}" on "${event}": ${errorMessage(error)}`)
    this.init.rt.bus.hookFailed(this.name, event, error)
  }

  private noteError(error: unknown): void {
    this.lastError = { code: errorCode(error), message: errorMessage(error) }
  }

  private lastErrorAsError(): Error {
    return new OutriggerError('RIG_ERR_WORKER_UNRESPONSIVE', this.lastError?.message ?? 'unresponsive')
  }

  private refreshState(): void {
    if (this.state === 'quarantined' || this.state === 'failed' || this.closing) return
    const live = this.slots.filter((s) => s.instance).length
    this.setState(live === this.slots.length ? 'running' : live === 0 ? (this.slots.some((s) => s.state === 'restarting') ? 'restarting' : 'stopped') : 'degraded')
  }

  /** Every transition is logged and published as `outrigger:plugin:<state>`. */
  private setState(next: PluginState): void {
    if (next === this.state) return
    const prev = this.state
    this.state = next
    const level = next === 'running' || next === 'starting' || next === 'stopped' ? 'info' : 'warn'
    this.log[level]({ plugin: this.name, from: prev, to: next, lastError: this.lastError }, `plugin "${this.name}": ${prev} → ${next}`)
    this.init.rt.bus.emit(`outrigger:plugin:${next}`, { plugin: this.name, from: prev, lastError: this.lastError })
  }

  status(): PluginStatus {
    const c = this.dispatcher.counters
    const now = Date.now()
    return {
      name: this.name,
      version: this.init.manifest.version,
      type: 'worker',
      isolation: this.cfg.isolation,
      delivery: this.cfg.delivery,
      state: this.state,
      hooks: this.hooks,
      pipes: [],
      controllers: [],
      functions: this.functions,
      shadowed: this.init.shadowed,
      restarts: this.restarts,
      lastError: this.lastError,
      queue: { depth: this.dispatcher.queue.depth, max: this.cfg.queue.max, dropped: c.dropped, rejected: c.rejected },
      events: { received: c.received, processed: c.processed, failed: c.failed, inFlight: c.inFlight, redelivered: c.redelivered, deadLettered: c.deadLettered, lost: c.lost },
      handlerMs: this.dispatcher.latency.percentiles(),
      instances: this.slots.map((s): InstanceStatus => ({
        id: s.id,
        pid: s.instance?.pid ?? 0,
        threadId: s.instance?.threadId ?? 0,
        state: s.state,
        uptimeMs: s.instance ? now - s.startedAt : 0,
        restarts: s.restarts,
        memoryMb: s.beat?.memoryMb ?? 0,
        eventLoopP99Ms: s.beat?.eventLoopP99Ms ?? 0,
        lastHeartbeatMs: s.beat ? now - s.beat.at : 0,
      })),
    }
  }
}
