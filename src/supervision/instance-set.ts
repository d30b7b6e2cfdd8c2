import { OutriggerError, errorCode, errorMessage } from '../errors.js'
import type { Heartbeat, WorkerInstance } from '../hosts/worker-host.js'
import type { WorkerSettings } from '../manifest/schema.js'
import type { InstanceStatus, PluginState, PluginStatus } from '../supervisor/status-types.js'
import { watchHeartbeat } from './heartbeat.js'
import { instanceStatus, roundFigures, type InstanceLife } from './instance-life.js'
import { MemoryLimit } from './memory-limit.js'
import { RestartPolicy, crashLoopError, stayDownError } from './restart-policy.js'
import { rollInstances, type RollResult } from './instance-roll.js'
import type { InstanceSetOptions } from './instance-set-types.js'

export type { InstanceSetEvents, InstanceSetOptions } from './instance-set-types.js'

/**
 * The life of a worker plugin's instances: spawn, exit, heartbeat, recycle past the memory limit,
 * respawn with backoff, quarantine on a crash loop, operator restart and halt. It owns the
 * plugin's state (running, degraded, restarting…), which is a function of its instances.
 */
export class InstanceSet {
  private readonly cfg: WorkerSettings
  private readonly policy: RestartPolicy
  private readonly lives: InstanceLife[]
  private readonly memory: MemoryLimit
  private current: PluginState = 'starting'
  private error: PluginStatus['lastError'] = null
  private restartCount = 0
  private closing = false
  /** A reload's roll under way: `close` waits for it. */
  private rolling: Promise<RollResult> | undefined

  constructor(private readonly opts: InstanceSetOptions) {
    this.cfg = opts.cfg
    this.policy = new RestartPolicy(this.cfg.restart)
    this.lives = Array.from({ length: this.cfg.instances }, (_, id) => ({ id, state: 'starting', startedAt: 0, restarts: 0 }))
    this.memory = new MemoryLimit({ plugin: opts.plugin, cfg: this.cfg, log: opts.log, retire: (id) => opts.on.retire(id), noteError: (e) => this.noteError(e) })
  }

  get state(): PluginState { return this.current }
  get lastError(): PluginStatus['lastError'] { return this.error }
  /** Respawns of every instance, operator restarts included. */
  get restarts(): number { return this.restartCount }

  /** The instances that are up and answering, in id order. */
  running(): WorkerInstance[] {
    return this.lives.flatMap((l) => (l.instance && l.state === 'running' ? [l.instance] : []))
  }

  /** Whether any instance is up, answering or not. */
  anyUp(): boolean {
    return this.lives.some((l) => l.instance)
  }

  /** First start: every instance must come up, or the plugin is failed (never a respawn loop). */
  async start(): Promise<void> {
    const started = await Promise.allSettled(this.lives.map((l) => this.spawn(l)))
    const bad = started.find((r) => r.status === 'rejected')
    if (bad) {
      // Not `closing`: that is for shutdown, and an operator restart after a fix must still work.
      // The instances that did start are halted (an expected stop, so no respawn).
      await Promise.all(this.lives.map((l) => this.halt(l)))
      throw (bad as PromiseRejectedResult).reason
    }
    this.setState('running')
  }

  /** Operator restart: forgives the crash history and brings every instance up again. */
  async operatorRestart(): Promise<void> {
    if (this.closing) throw new OutriggerError('RIG_ERR_CLOSED', `plugin "${this.opts.plugin}": the supervisor is stopping`)
    this.policy.reset()
    for (const l of this.lives) clearTimeout(l.timer)
    await Promise.all(this.lives.map((l) => this.halt(l)))
    this.setState('starting')
    const started = await Promise.allSettled(this.lives.map((l) => this.spawn(l).then(() => { l.restarts++; this.restartCount++ })))
    const bad = started.find((r) => r.status === 'rejected')
    if (bad) {
      // As on a first start: all or nothing, and the caller marks the plugin failed.
      await Promise.all(this.lives.map((l) => this.halt(l)))
      throw (bad as PromiseRejectedResult).reason
    }
    this.error = null
    this.setState('running')
  }

  /** Stops every instance gracefully; a start under way ends first. */
  async close(): Promise<void> {
    this.closing = true
    for (const l of this.lives) clearTimeout(l.timer)
    // A start under way ends first (it sees `closing` and kills what it started).
    await Promise.all(this.lives.map((l) => l.spawning?.catch(() => undefined)))
    await Promise.all(this.lives.map((l) => this.halt(l, true)))
    // A reload under way sees `closing` and ends the instance it started.
    await this.rolling?.catch(() => undefined)
  }

  /** After `close`: the plugin is stopped, unless it had failed. */
  closed(): void {
    if (this.current !== 'failed') this.setState('stopped')
  }

  fail(error: unknown): void {
    this.noteError(error)
    this.setState('failed')
  }

  /** A retired instance has answered all it held: now it goes (and comes back fresh), or hands over (a reload). */
  retired(id: number): void {
    const l = this.lives[id]
    if (l.expected === 'recycle' && l.instance) void l.instance.stop()
    else if (l.expected === 'reload') l.drained?.()
  }

  /** A reload: each instance in turn is replaced by one of the current code (instance-roll.ts). */
  async roll(): Promise<RollResult> {
    if (this.closing) throw new OutriggerError('RIG_ERR_CLOSED', `plugin "${this.opts.plugin}": the supervisor is stopping`)
    const { handlerTimeoutMs, unresponsiveMs } = this.cfg.limits
    return (this.rolling = rollInstances({
      plugin: this.opts.plugin,
      lives: this.lives,
      closing: () => this.closing,
      launch: (id) => this.opts.launch(id),
      retire: (id) => this.opts.on.retire(id),
      adopt: (l, instance) => (this.adopt(l, instance), this.refreshState()),
      drainMs: handlerTimeoutMs + unresponsiveMs,
    }))
  }

  statuses(now = Date.now()): InstanceStatus[] {
    return this.lives.map((l) => instanceStatus(l, now))
  }

  // ── spawn and watch ─────────────────────────────────────────────────────────────────────

  private spawn(l: InstanceLife): Promise<void> {
    const started = this.startInstance(l)
    l.spawning = started
    return started.finally(() => {
      if (l.spawning === started) l.spawning = undefined
    })
  }

  private async startInstance(l: InstanceLife): Promise<void> {
    l.state = 'starting'
    let instance: WorkerInstance
    try {
      instance = await this.opts.launch(l.id)
    } catch (err) {
      // Its row must not stay "starting" with pid 0: nothing runs for it.
      l.state = 'stopped'
      throw err
    }
    if (this.closing || this.current === 'quarantined') {
      await instance.kill()
      l.state = 'stopped'
      return
    }
    this.adopt(l, instance)
  }

  /** `instance` now serves `l`: watched, and given work. */
  private adopt(l: InstanceLife, instance: WorkerInstance): void {
    l.instance = instance
    l.state = 'running'
    l.startedAt = Date.now()
    l.expected = undefined
    l.beat = undefined
    // OTP's "normal" exit: asked for, or the instance ending by itself with code 0 and no error (a
    // plugin calling process.exit(0)). A kill, a signal, an error or another code is a crash.
    instance.exited.then((info) =>
      this.exited(l, instance, info.error ?? new Error(`exit code ${info.code} signal ${info.signal}`), info.reason === 'killed' || info.code !== 0 || info.signal !== null || info.error !== undefined),
    )
    const { unresponsiveMs } = this.cfg.limits
    instance.onOverLimit((memory, halted) => this.memory.overLimit(l, instance, memory, halted))
    l.unwatch = watchHeartbeat(instance, unresponsiveMs, {
      beat: (h) => this.beat(l, instance, h),
      silent: () => this.unresponsive(l, instance, `no heartbeat answer within ${unresponsiveMs} ms (an endless loop or a blocked event loop?)`),
    })
    this.opts.on.up(l.id, instance)
  }

  private beat(l: InstanceLife, instance: WorkerInstance, h: Heartbeat): void {
    l.beat = { ...roundFigures(h), eventLoopP99Ms: Math.round(h.eventLoopP99Ms * 100) / 100, at: Date.now() }
    if (l.state === 'unresponsive') l.state = 'running'
    const { handlerTimeoutMs, unresponsiveMs, memoryMb } = this.cfg.limits
    // The runtime fails a hook that does not settle within handlerTimeoutMs itself and goes on
    // (RIG_ERR_HANDLER_TIMEOUT); an answer that still shows one running well past it means the
    // runtime could not, and only a kill ends it.
    if (h.busyMs > handlerTimeoutMs + unresponsiveMs) {
      this.unresponsive(l, instance, `a hook has run for ${Math.round(h.busyMs)} ms, past limits.handlerTimeoutMs (${handlerTimeoutMs})`)
    } else if (h.memoryMb > memoryMb && l.expected === undefined) {
      this.memory.recycle(l, instance, h)
    }
  }

  private unresponsive(l: InstanceLife, instance: WorkerInstance, why: string): void {
    if (l.instance !== instance || (l.expected && l.expected !== 'reload')) return
    l.state = 'unresponsive'
    this.noteError(new OutriggerError('RIG_ERR_WORKER_UNRESPONSIVE', `plugin "${this.opts.plugin}" instance ${l.id}: ${why}; terminating it`))
    void instance.kill()
  }

  // ── exit, respawn, quarantine ───────────────────────────────────────────────────────────

  private exited(l: InstanceLife, instance: WorkerInstance, cause: Error, abnormal: boolean): void {
    if (l.instance !== instance) return
    l.unwatch?.()
    l.instance = undefined
    this.opts.on.down(l.id, cause, { hung: l.state === 'unresponsive' })
    const uptime = Date.now() - l.startedAt
    // Handing over to a new instance (a reload): that one takes the id; no respawn.
    l.drained?.()
    if (this.closing || l.expected === 'stop' || l.expected === 'reload') {
      l.state = 'stopped'
      return
    }
    if (l.expected === 'recycle') return this.scheduleRespawn(l, 0)
    this.noteError(
      l.state === 'unresponsive'
        ? new OutriggerError('RIG_ERR_WORKER_UNRESPONSIVE', this.error?.message ?? 'unresponsive')
        : new OutriggerError('RIG_ERR_WORKER_EXITED', `plugin "${this.opts.plugin}" instance ${l.id} exited: ${cause.message}`, { cause }),
    )
    const decision = this.policy.decide(abnormal, uptime)
    if (decision.action === 'restart') this.scheduleRespawn(l, decision.delayMs)
    else if (decision.action === 'quarantine') this.quarantine()
    else this.stayDown(l, cause, abnormal)
  }

  /**
   * The restart policy leaves this instance down. The reason replaces the exit as `lastError`:
   * a plugin left stopped reads as degraded, and the report says why and what to do.
   */
  private stayDown(l: InstanceLife, cause: Error, abnormal: boolean): void {
    l.state = 'stopped'
    const alone = this.lives.every((x) => x === l || (!x.instance && x.state !== 'restarting'))
    this.noteError(stayDownError(this.opts.plugin, this.cfg.restart, l.id, cause, abnormal, alone))
    this.refreshState()
  }

  private scheduleRespawn(l: InstanceLife, delayMs: number): void {
    l.state = 'restarting'
    this.refreshState()
    l.timer = setTimeout(() => {
      l.timer = undefined
      if (this.closing || this.current === 'quarantined') return
      l.restarts++
      this.restartCount++
      this.spawn(l).then(
        () => this.refreshState(),
        (err) => {
          // A failed respawn is one more crash: the policy's backoff and intensity apply.
          this.noteError(err)
          const d = this.policy.decide(true, 0)
          if (d.action === 'restart') this.scheduleRespawn(l, d.delayMs)
          else if (d.action === 'quarantine') this.quarantine()
          else l.state = 'stopped'
        },
      )
    }, delayMs)
  }

  private quarantine(): void {
    this.noteError(crashLoopError(this.opts.plugin, this.cfg.restart))
    this.setState('quarantined')
    for (const l of this.lives) {
      clearTimeout(l.timer)
      if (l.instance) void this.halt(l)
      else l.state = 'stopped'
    }
  }

  /** Asks instance `id` to go (killed, or stopped when `graceful`): its exit is then no crash. */
  private async halt(l: InstanceLife, graceful = false): Promise<void> {
    const instance = l.instance
    if (!instance) return
    l.expected = 'stop'
    await (graceful ? instance.stop() : instance.kill()).catch(() => undefined)
    await instance.exited
  }

  // ── state ───────────────────────────────────────────────────────────────────────────────

  private noteError(error: unknown): void {
    this.error = { code: errorCode(error), message: errorMessage(error) }
  }

  private refreshState(): void {
    if (this.current === 'quarantined' || this.current === 'failed' || this.closing) return
    const up = this.lives.filter((l) => l.instance).length
    const all = this.lives.length
    this.setState(up === all ? 'running' : up === 0 ? (this.lives.some((l) => l.state === 'restarting') ? 'restarting' : 'stopped') : 'degraded')
  }

  private setState(next: PluginState): void {
    if (next === this.current) return
    const prev = this.current
    this.current = next
    this.opts.on.stateChanged(next, prev)
  }
}
