import { errorMessage, OutriggerError, type SerializedError } from '../errors.js'
import { DeadLetters, type LetterSelection, type PurgeResult, type ReplayResult } from '../delivery/dead-letters.js'
import { Dispatcher } from '../delivery/dispatcher.js'
import { DurableQueue } from '../delivery/durable-queue.js'
import type { Pending } from '../delivery/queue.js'
import path from 'node:path'
import type { Manifest, WorkerSettings } from '../manifest/schema.js'
import { InstanceSet } from '../supervision/instance-set.js'
import type { InstanceDiagnostics } from '../supervision/instance-diagnostics.js'
import type { PluginHandle, SupervisorRuntime } from './plugin-handle.js'
import type { PluginStatus } from './status-types.js'
import { reloadRefused, rollOnto } from './worker-reload.js'
import { storeDeadLetter } from './worker-dead-letter.js'
import { publishState, workerStatus } from './worker-status.js'
import { withCoordination } from './coordination-wiring.js'
import { clusterSettings, placeInCluster, type PlacedQueue } from './cluster-placement.js'
import { WorkerIo } from './worker-io.js'
import { WorkerHooks } from './worker-hooks.js'
import { WorkerErrors } from './worker-errors.js'
import { WorkerLaunch } from './worker-launch.js'
import { DrainWait, abandonUndrained } from './worker-stop.js'

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
 * A worker plugin: its instances (whose life `InstanceSet` runs; how one comes up in
 * worker-launch.ts), its queue and dispatcher, its hooks and functions (worker-hooks.ts), the
 * bridge its instances call back through (worker-bridge.ts), its stop (worker-stop.ts) and its
 * status report (its last error in worker-errors.ts).
 */
export class WorkerPlugin implements PluginHandle {
  readonly type = 'worker'
  readonly name: string
  readonly deadLetters: DeadLetters
  private readonly cfg: WorkerSettings
  private readonly dispatcher: Dispatcher
  private readonly instances: InstanceSet
  private readonly io: WorkerIo
  /** Its hooks on the bus and its functions, as the newest instance's handshake lists them. */
  private readonly offer: WorkerHooks
  private readonly errors = new WorkerErrors(() => this.instances.lastError)
  /** Durable delivery: the journal and the window over it (opened by `start`; every receipt goes through it). */
  durable: DurableQueue | undefined
  /** Cluster placement: accepted events go to the plugin's stream; what this node consumes comes back through it. */
  private placed: PlacedQueue | undefined
  private readonly launcher: WorkerLaunch
  private readonly drained = new DrainWait(() => this.idle())
  /** A reload under way: the bus keeps the old hook list until every instance has rolled. */
  private reloading = false

  // Not readonly: a reload replaces it (code, manifest, options), and new instances start from it.
  constructor(private init: WorkerPluginInit) {
    this.name = init.name
    this.cfg = clusterSettings(init.manifest.worker!)
    this.deadLetters = new DeadLetters(init.rt.store, this.name)
    this.launcher = new WorkerLaunch(this.name, this.cfg, this.deadLetters, () => this.init)
    this.dispatcher = new Dispatcher(this.cfg, {
      report: (event, error) => this.report(event, error),
      deadLetter: (p, error) => this.toDeadLetters(p, error),
      onIdle: () => this.drained.check(),
      retired: (id) => this.instances.retired(id),
      settled: (p, outcome) => void ((this.placed ?? this.durable)?.settled(p, outcome), this.io.settled(p, outcome)),
    })
    this.io = new WorkerIo(this.name, init.rt, this.cfg.queue.max, (sub, batch) => void (this.placed ?? this.durable ?? this.dispatcher).enqueue(sub, sub, batch), () => this.dispatcher.depth() + (this.durable?.parked ?? 0), () => this.durable)
    this.offer = new WorkerHooks(this.name, this.io, (pattern) => (event, payload) => void (this.placed ?? this.durable ?? this.dispatcher).enqueue(pattern, event, payload))
    this.instances = new InstanceSet({
      plugin: this.name,
      cfg: this.cfg,
      log: init.rt.log,
      stateDir: init.rt.stateDir,
      launch: (id) => this.launcher.launch(id, this.instances.diagnostics.heapSnapshotDir),
      on: withCoordination(this.name, init.rt.coordination, () => this.instances.lastError, init.rt.signal, {
        up: (id, instance) => {
          if (!this.reloading) this.offer.register(this.init.rt.bus, instance)
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
      refilled: () => this.drained.check(),
    })
  }

  private idle(): boolean {
    return this.dispatcher.idle() && (this.durable?.empty() ?? true) && (this.placed?.empty() ?? true)
  }

  /** Runs `whenReady` in every running instance (they have all run `init`), each with the timeout. */
  ready(): Promise<void> {
    return this.launcher.readyAll(this.instances.running())
  }

  operatorRestart(): Promise<void> {
    this.errors.clear()
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
      if (first) this.offer.register(this.init.rt.bus, first)
    }
  }

  /** CPU profiles and heap snapshots of its instances (`sup.profile`). */
  get diagnostics(): InstanceDiagnostics {
    return this.instances.diagnostics
  }

  async drain(deadline: number): Promise<void> {
    this.placed?.stop()
    await this.io.beforeDrain(this.instances.running(), deadline)
    if (this.idle() || !this.instances.anyUp()) return
    await this.drained.until(deadline)
  }

  async close(): Promise<void> {
    // The drain is over: no new batch leaves (a stopping instance refuses it: a failed attempt).
    for (let id = 0; id < this.cfg.instances; id++) this.dispatcher.retire(id)
    await this.instances.close()
    abandonUndrained(this.name, this.dispatcher, this.log)
    await this.durable?.close()
    await this.placed?.close()
    this.instances.closed()
  }

  get latency() {
    return this.dispatcher.latency
  }

  fail(error: unknown): void {
    // The supervisor took the hooks off the bus: the next instance up (a restart) puts them back.
    this.offer.dropped()
    this.instances.fail(error)
  }

  // ── calls, dead letters ──────────────────────────────────────────────────────────────────

  async call(fn: string, args: unknown): Promise<unknown> {
    const live = this.instances.running()
    if (!live.length) throw new OutriggerError('RIG_ERR_WORKER_EXITED', `plugin "${this.name}" has no running instance to call "${fn}" (state ${this.instances.state})`)
    return this.offer.callee(fn, live).call(fn, args)
  }

  private toDeadLetters(p: Pending, error: SerializedError | null): void {
    // Left over at a stop, a cluster event stays pending in its stream for another node: no local letter.
    if (this.placed?.deadLettered(p, error)) return
    storeDeadLetter({ plugin: this.name, log: this.log, letters: this.deadLetters, durable: this.durable, noteError: (e) => this.errors.note(e) }, p, error)
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

  private report(event: string, error: unknown): void {
    this.errors.report(this.init.rt.bus, this.name, event, error)
  }

  status(): PluginStatus {
    const { name, cfg, dispatcher, durable, instances, init } = this
    const { hooks, functions } = this.offer
    return this.io.withSinks(workerStatus({ name, cfg, hooks, functions, dispatcher, durable, instances, version: init.manifest.version, shadowed: init.shadowed, lastError: this.errors.last, rootPath: init.rootPath, stateDir: init.rt.stateDir }))
  }
}
