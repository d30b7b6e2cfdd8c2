import type { WorkerInstance } from '../hosts/worker-host.js'
import type { WorkerSettings } from '../manifest/schema.js'
import type { PluginLogger } from '../plugin/types.js'
import type { PluginState } from '../supervisor/status-types.js'

/** How an instance set tells its owner what happened. */
export interface InstanceSetEvents {
  /** Instance `id` is up and may take work (first start, respawn, operator restart). */
  up(id: number, instance: WorkerInstance): void
  /**
   * Instance `id` is gone; whatever it held must be accounted for. `hung`: it was killed for not
   * answering heartbeats (its event loop was blocked).
   */
  down(id: number, cause: Error, how: { hung: boolean }): void
  /**
   * Instance `id` must take no new work (it is being recycled). Returns true when it holds none,
   * so it may go now; otherwise the owner calls `retired(id)` once it has answered everything.
   */
  retire(id: number): boolean
  /** The plugin's state moved from `prev` to `next`. */
  stateChanged(next: PluginState, prev: PluginState): void
}

export interface InstanceSetOptions {
  plugin: string
  cfg: WorkerSettings
  log: PluginLogger
  /** Starts instance `id` and resolves once its plugin is loaded and `init` finished. */
  launch(id: number): Promise<WorkerInstance>
  on: InstanceSetEvents
}
