import { timeoutsFor } from '../config/config.js'
import { deserializeError, errorCode, errorMessage, OutriggerError, type SerializedError } from '../errors.js'
import { DeadLetters, type LetterSelection, type PurgeResult, type ReplayResult } from '../delivery/dead-letters.js'
import { Dispatcher } from '../delivery/dispatcher.js'
import { DurableQueue } from '../delivery/durable-queue.js'
import type { Pending } from '../delivery/queue.js'
import path from 'node:path'
import type { WorkerInstance } from '../hosts/worker-host.js'
import { hostFor } from '../hosts/select.js'
import type { Manifest, WorkerSettings } from '../manifest/schema.js'
import { InstanceSet } from '../supervision/instance-set.js'
import type { InstanceDiagnostics } from '../supervision/instance-diagnostics.js'
import { instanceSpec } from './instance-spec.js'
import type { PluginHandle, SupervisorRuntime } from './plugin-handle.js'
import type { PluginStatus } from './status-types.js'
import { reloadRefused, rollOnto } from './worker-reload.js'
import { storeDeadLetter } from './worker-dead-letter.js'
import { publishState, workerStatus } from './worker-status.js'
import { withCoordination } from './coordination-wiring.js'
import { clusterSettings, placeInCluster, type PlacedQueue } from './cluster-placement.js'
import { WorkerIo, sameList } from './worker-io.js'

export interface WorkerPluginInit {
  name: string
  manifest: Manifest
  entry: string
  rootPath: string
  options: unknown
  shadowed: string[]
  rt: SupervisorRuntime
}

/**
 * A worker plugin: its instances (whose life `InstanceSet` runs), its queue and dispatcher, the
 * bridge its instances call back through (worker-bridge.ts), and its status report.
 */
export class WorkerPlugin implements PluginHandle {
  readonly type = 'worker'
  readonly name: string
  readonly deadLetters: DeadLetters
  private readonly cfg: WorkerSettings
  private readonly dispatcher: Dispatcher
  private readonly instances: InstanceSet
  private readonly io: WorkerIo
  /** Durable delivery: the journal and the window over it (opened by `start`; every receipt goes through it). */
  durable: DurableQueue | undefined
  /** Cluster placement: accepted events go to the plugin's stream; what this node consumes comes back through it. */
  private placed: PlacedQueue | undefined
  private hooks: string[] = []
  private functions: string[] = []
  private registered = false
  /** Set once the plugin's whenReady ran: an instance started later runs it right after its init. */
  private readied = false
  private rr = 0
  private idleWaiters: Array<() => void> = []
  /** The last handler failure, and the instances' last error when it happened (see `lastError`). */
  private handlerError: { error: PluginStatus['lastError']; over: PluginStatus['lastError'] } | undefined
  /** A reload under way: the bus keeps the old hook list until every instance has rolled. */
  private reloading = false

  // Not readonly: a reload replaces it (code, manifest, options), and new instances start from it.
  constructor(private init: WorkerPluginInit) {
    this.name = init.name
    this.cfg = clusterSettings(init.manifest.worker!)
    this.deadLetters = new DeadLetters(init.rt.store, this.name)
    this.dispatcher = new Dispatcher(this.cfg, {
      report: (event, error) => this.report(event, error),
      deadLetter: (p, error) => this.toDeadLetters(p, error),
      onIdle: () => this.wakeIfIdle(),
      retired: (id) => this.instances.retired(id),
      settled: (p, outcome) => void ((this.placed ?? this.durable)?.settled(p, outcome), this.io.settled(p, outcome)),
    })
    this.io = new WorkerIo(this.name, init.rt, this.cfg.queue.max, (sub, batch) => void (this.placed ?? this.durable ?? this.dispatcher).enqueue(sub, sub, batch), () => this.dispatcher.depth() + (this.durable?.parked ?? 0), () => this.durable)
    this.instances = new InstanceSet({
      plugin: this.name,
      cfg: this.cfg,
      log: init.rt.log,
      stateDir: init.rt.stateDir,
      launch: (id) => this.launch(id),
      on: withCoordination(this.name, init.rt.coordination, () => this.instances.lastError, init.rt.signal, {
        up: (id, instance) => {
          if (!this.reloading) this.registerHooks(instance)
          this.dispatcher.attach(id, instance)
        },
        down: (id, cause, how) => this.dispatcher.detach(id, cause, how),
        retire: (id) => this.dispatcher.retire(id),
        stateChanged: (next, prev) => {
          // A plugin its restart policy left stopped drops new events (counted) rather than
          // queueing them for nobody; an operator restart (→ starting) takes them again.
          this.dispatcher.intake = next !== 'stopped'
          publishState(this.init.rt, this.name, this.instances.lastError, next, prev)
        },
      }),
    })
  }

  private get log() {
    return this.init.rt.log
  }

  // ── lifecycle ────────────────────────────────────────────────────────────────────────────
  start(): Promise<void> {
    if (this.cfg.delivery === 'durable') this.durable = this.openJournal()
    if (this.cfg.placement === 'cluster') this.placed = placeInCluster(this.init.rt, this.name, this.cfg, this.dispatcher, (event, err) => this.report(event, err))
    return this.instances.start()
  }

  /** Opens the journal and fills the window with what an earlier run left, before any new event. */
  private openJournal(): DurableQueue {
    return new DurableQueue({
      dir: path.join(this.init.rt.stateDir, 'journal', this.name),
      commitMs: this.init.rt.config.journal.commitMs,
      window: this.cfg.queue.max,
      dispatcher: this.dispatcher,
      report: (event, err) => this.report(event, err),
      failed: (err) => this.log.error({ plugin: this.name, err }, `plugin "${this.name}": ${errorMessage(err)}`),
      refilled: () => this.wakeIfIdle(),
    })
  }

  private idle(): boolean {
    return this.dispatcher.idle() && (this.durable?.empty() ?? true) && (this.placed?.empty() ?? true)
  }

  private wakeIfIdle(): void {
    if (this.idle()) this.idleWaiters.splice(0).forEach((f) => f())
  }

  /** Runs `whenReady` in every running instance (they have all run `init`), each with the timeout. */
  async ready(): Promise<void> {
    this.readied = true
    await Promise.all(this.instances.running().map((i) => i.ready(timeoutsFor(this.init.rt.config, this.name).whenReadyMs)))
  }

  operatorRestart(): Promise<void> {
    this.handlerError = undefined
    return this.instances.operatorRestart()
  }

  /**
   * A live reload onto `next` (read from disk again): every instance is replaced by one of the new
   * code, started and ready before the old one hands over (worker-reload.ts). Throws
   * RIG_ERR_RELOAD_FAILED (the old code keeps serving) or RIG_ERR_RELOAD_REFUSED.
   */
  async reload(next: WorkerPluginInit): Promise<{ rolled: number }> {
    if (this.reloading) throw reloadRefused(this.name, 'a reload is already under way; wait for its answer')
    const prev = this.init
    const fresh = { ...next, manifest: { ...next.manifest, worker: this.cfg } }
    this.reloading = true
    try {
      return await rollOnto({ plugin: this.name, cfg: this.cfg, next: next.manifest.worker!, instances: this.instances, use: (f) => (this.init = f ? fresh : prev) })
    } finally {
      this.reloading = false
      // The hook list of the new code (or of the old one, when nothing rolled) goes on the bus.
      const first = this.instances.running()[0]
      if (first) this.registerHooks(first)
    }
  }

  private async launch(id: number): Promise<WorkerInstance> {
    const instance = await this.startInstance(id)
    // A restarted or late instance is ready only once its own whenReady ran.
    if (this.readied) {
      try {
        await instance.ready(timeoutsFor(this.init.rt.config, this.name).whenReadyMs)
      } catch (err) {
        await instance.kill()
        throw err
      }
    }
    return instance
  }

  private startInstance(id: number): Promise<WorkerInstance> {
    return hostFor(this.cfg.isolation).start(instanceSpec(this.init, this.cfg, id, this.deadLetters, this.instances.diagnostics.heapSnapshotDir))
  }

  /** CPU profiles and heap snapshots of its instances (`sup.profile`). */
  get diagnostics(): InstanceDiagnostics {
    return this.instances.diagnostics
  }

  /**
   * Hooks and functions are known only from the instances' handshakes (the host never imports
   * the code), and every new instance brings its own: after a restart it may run newer code. The
   * newest instance's lists win, and the bus follows them when they change.
   */
  private registerHooks(instance: WorkerInstance): void {
    const { hooks, functions } = instance.info
    this.functions = functions
    if (this.registered && sameList(hooks, this.hooks) && this.io.same(instance.info.sinks)) return
    const bus = this.init.rt.bus
    if (this.registered) bus.hooks.removePlugin(this.name)
    this.registered = true
    this.hooks = hooks
    for (const pattern of hooks) {
      bus.hooks.add({ plugin: this.name, pattern, deliver: (event, payload) => void (this.placed ?? this.durable ?? this.dispatcher).enqueue(pattern, event, payload) })
    }
    this.io.register(bus, instance.info.sinks)
  }

  async drain(deadline: number): Promise<void> {
    this.placed?.stop()
    await this.io.beforeDrain(this.instances.running(), deadline)
    if (this.idle() || !this.instances.anyUp()) return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()))
      this.idleWaiters.push(() => {
        clearTimeout(timer)
        resolve()
      })
    })
  }

  async close(): Promise<void> {
    // The drain is over: no new batch leaves (a stopping instance refuses it: a failed attempt).
    for (let id = 0; id < this.cfg.instances; id++) this.dispatcher.retire(id)
    await this.instances.close()
    // Whatever could not be drained leaves the books explicitly: dead letters or lost; under
    // durable delivery it stays queued, in the journal, for the next run.
    const before = this.dispatcher.counters.deadLettered
    this.dispatcher.abandon('the supervisor stopped before the event was delivered')
    const left = this.dispatcher.counters.deadLettered - before
    if (left > 0) this.log.warn({ plugin: this.name, deadLettered: left }, `plugin "${this.name}": ${left} event(s) not delivered before the stop were dead-lettered; replay them with "outrigger dead-letters replay ${this.name}"`)
    await this.durable?.close()
    await this.placed?.close()
    this.instances.closed()
  }

  get latency() {
    return this.dispatcher.latency
  }

  fail(error: unknown): void {
    // The supervisor took the hooks off the bus: the next instance up (a restart) puts them back.
    this.registered = false
    this.instances.fail(error)
  }

  // ── calls, dead letters ──────────────────────────────────────────────────────────────────

  async call(fn: string, args: unknown): Promise<unknown> {
    const live = this.instances.running()
    if (!live.length) throw new OutriggerError('RIG_ERR_WORKER_EXITED', `plugin "${this.name}" has no running instance to call "${fn}" (state ${this.instances.state})`)
    if (this.functions.length && !this.functions.includes(fn)) {
      throw new OutriggerError('RIG_ERR_UNKNOWN_TARGET', `plugin "${this.name}" has no function "${fn}" (it has: ${this.functions.join(', ')})`)
    }
    return live[this.rr++ % live.length].call(fn, args)
  }

  private toDeadLetters(p: Pending, error: SerializedError | null): void {
    // Left over at a stop, a cluster event stays pending in its stream for another node: no local letter.
    if (this.placed?.deadLettered(p, error)) return
    storeDeadLetter({ plugin: this.name, log: this.log, letters: this.deadLetters, durable: this.durable, noteError: (e) => this.noteHandlerError(e) }, p, error)
  }

  /**
   * Re-enqueues the selected dead letters as new receipts, oldest first, while the queue has room
   * (never pushing other events out); a letter is removed only once its event was accepted.
   */
  replayDeadLetters(sel: LetterSelection = {}): Promise<ReplayResult> {
    return this.deadLetters.replay(
      sel,
      // Durable: through the journal, like any receipt.
      (l) => (this.placed ?? this.durable ?? this.dispatcher).offer(l.subscription, l.event, l.payload),
      () => (this.dispatcher.intake ? 'queue-full' : 'plugin-stopped'),
    )
  }

  purgeDeadLetters(sel: LetterSelection = {}): Promise<PurgeResult> {
    return this.deadLetters.purge(sel)
  }

  // ── reporting ────────────────────────────────────────────────────────────────────────────

  /** A final failure of one event: the bus logs it (one line) and tells `hook:onError`. */
  private report(event: string, error: unknown): void {
    // A handler's error arrives serialized from the worker: rebuilt, it logs and reads as an error.
    const err = error instanceof Error ? error : deserializeError(error as SerializedError)
    this.noteHandlerError({ code: errorCode(err), message: errorMessage(err) })
    this.init.rt.bus.hookFailed(this.name, event, err)
  }

  private noteHandlerError(error: NonNullable<PluginStatus['lastError']>): void {
    this.handlerError = { error, over: this.instances.lastError }
  }

  /** The newer of the last handler failure and the instances' last error (exit, unresponsive…). */
  private get lastError(): PluginStatus['lastError'] {
    const h = this.handlerError
    return h && h.over === this.instances.lastError ? h.error : this.instances.lastError
  }

  status(): PluginStatus {
    const { name, cfg, hooks, functions, dispatcher, durable, instances, init } = this
    return this.io.withSinks(workerStatus({ name, cfg, hooks, functions, dispatcher, durable, instances, version: init.manifest.version, shadowed: init.shadowed, lastError: this.lastError, rootPath: init.rootPath, stateDir: init.rt.stateDir }))
  }
}
