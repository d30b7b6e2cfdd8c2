/**
 * The pm2 glue (DESIGN §5): under pm2, tell it `ready` (for `wait_ready`), publish per-plugin
 * metrics and the `status` / `restart-plugin` actions through @pm2/io, and stop gracefully on
 * pm2's signals or `shutdown` message. Anywhere else it does nothing and loads nothing.
 */
import type { Supervisor } from '../supervisor/types.js'
import { registerActions } from './actions.js'
import { loadIo } from './io.js'
import { publishMetrics } from './metrics.js'
import { shutdownOnRequest } from './shutdown.js'

export interface AttachPm2Options {
  /** How often the metrics are refreshed. Default 1000 ms (pm2 reads them about once a second). */
  intervalMs?: number
  /**
   * Stop the supervisor and exit on SIGINT, SIGTERM, pm2's `shutdown` message or the loss of the
   * channel to pm2. Default true; turn it off when the host application stops the supervisor itself.
   */
  shutdown?: boolean
}

export interface Pm2Attachment {
  /** Whether the process runs under pm2 (otherwise nothing was attached). */
  readonly active: boolean
  /** Stops publishing metrics and detaches @pm2/io. Idempotent. */
  close(): void
}

/** pm2 sets `pm_id` in every app's environment and forks it with an IPC channel. */
export function underPm2(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.pm_id !== undefined && typeof process.send === 'function'
}

/**
 * Call after `startSupervisor` has resolved: the `ready` it sends is what pm2's `wait_ready`
 * waits for, and it must mean that every plugin has started (or failed, as the config allows).
 */
export async function attachPm2(sup: Supervisor, opts: AttachPm2Options = {}): Promise<Pm2Attachment> {
  if (!underPm2()) return { active: false, close: () => undefined }
  const io = await loadIo()
  const stopMetrics = publishMetrics(io, sup, opts.intervalMs ?? 1000)
  registerActions(io, sup)
  let closed = false
  const close = (): void => {
    if (closed) return
    closed = true
    stopMetrics()
    // Also silences @pm2/io's transport, which would exit(1) mid-drain if the channel closed.
    io.destroy()
  }
  if (opts.shutdown !== false) void shutdownOnRequest(sup, { before: close, onDisconnect: true })
  // Last, so that pm2 shows the app online only with its metrics and actions in place.
  process.send!('ready')
  return { active: true, close }
}
