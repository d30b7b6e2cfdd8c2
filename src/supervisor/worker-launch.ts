/**
 * How one instance of a worker plugin comes up: started on the host its isolation picks, from the
 * plugin's current code (a reload swaps it in), and, once the plugin is past `whenReady`, ready
 * only after its own `whenReady` ran, so a restarted or late instance takes no event before it.
 * Kept apart from the plugin handle, where the instance set decides when an instance starts and
 * the dispatcher what it serves.
 */
import { timeoutsFor } from '../config/config.js'
import type { DeadLetters } from '../delivery/dead-letters.js'
import type { WorkerInstance } from '../hosts/worker-host.js'
import { hostFor } from '../hosts/select.js'
import type { WorkerSettings } from '../manifest/schema.js'
import { instanceSpec } from './instance-spec.js'
import type { WorkerPluginInit } from './worker-plugin.js'

export class WorkerLaunch {
  /** Set once the plugin's whenReady ran: an instance started later runs it right after its init. */
  private readied = false

  /** @param current the plugin's code, manifest and options now (a reload replaces them). */
  constructor(
    private readonly plugin: string,
    private readonly cfg: WorkerSettings,
    private readonly deadLetters: DeadLetters,
    private readonly current: () => WorkerPluginInit,
  ) {}

  /** Runs `whenReady` in every running instance (they have all run `init`), each with the timeout. */
  async readyAll(running: WorkerInstance[]): Promise<void> {
    this.readied = true
    await Promise.all(running.map((i) => i.ready(this.whenReadyMs())))
  }

  async launch(id: number, heapSnapshotDir: string): Promise<WorkerInstance> {
    const instance = await hostFor(this.cfg.isolation).start(instanceSpec(this.current(), this.cfg, id, this.deadLetters, heapSnapshotDir))
    // A restarted or late instance is ready only once its own whenReady ran.
    if (this.readied) {
      try {
        await instance.ready(this.whenReadyMs())
      } catch (err) {
        await instance.kill()
        throw err
      }
    }
    return instance
  }

  private whenReadyMs(): number {
    return timeoutsFor(this.current().rt.config, this.plugin).whenReadyMs
  }
}
