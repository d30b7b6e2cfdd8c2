/**
 * The one place that turns stop requests into a graceful stop (DESIGN §4): SIGINT and SIGTERM
 * (Ctrl-C, a service manager, pm2's tree kill), pm2's `shutdown` message (`shutdown_with_message`)
 * and, under pm2, the loss of the IPC channel to the pm2 daemon. The first request drains and
 * stops the supervisor, then exits (0, or 1 if stopping failed); a second one exits at once.
 *
 * The process exits explicitly rather than waiting for the event loop to empty: under pm2 the IPC
 * channel (and @pm2/io's listeners on it) keep it alive forever, and a plugin that leaks a timer
 * must not turn a clean stop into pm2's SIGKILL after kill_timeout.
 */
import { flushOutput } from '../services/log-output.js'
import type { Supervisor } from '../supervisor/types.js'

export interface ShutdownOptions {
  /** Runs first, before the drain (e.g. stop publishing to pm2). Hooks accumulate across calls. */
  before?: () => void
  /** Also stop when the IPC channel to the parent closes (pm2's daemon has gone). */
  onDisconnect?: boolean
}

let stopping: Promise<void> | undefined
let asked = false
const befores: Array<() => void> = []
let request: (why: string) => void = () => undefined

/**
 * Installs the handlers once per process; the promise settles when the supervisor has stopped,
 * just before the process exits. Calling it again (the CLI and the pm2 glue both do) adds
 * `before` hooks and the disconnect trigger to the same, single shutdown.
 */
export function shutdownOnRequest(sup: Supervisor, opts: ShutdownOptions = {}): Promise<void> {
  if (opts.before) befores.push(opts.before)
  if (opts.onDisconnect) process.once('disconnect', () => request('the IPC channel to pm2 closed'))
  if (stopping) return stopping
  stopping = new Promise<void>((resolve) => {
    request = (why: string): void => {
      if (asked) {
        process.stderr.write(`outrigger: ${why} again while stopping; exiting now\n`)
        process.exit(1)
      }
      asked = true
      process.stderr.write(`outrigger: ${why}, stopping (drain, close plugins, stop workers)\n`)
      for (const hook of befores.splice(0)) {
        try {
          hook()
        } catch (err) {
          sup.log.error({ err }, 'a shutdown hook failed')
        }
      }
      sup.stop().then(
        () => exitAfter(resolve, 0),
        (err: unknown) => {
          sup.log.error({ err }, 'stopping failed')
          exitAfter(resolve, 1)
        },
      )
    }
  })
  process.on('SIGINT', () => request('SIGINT'))
  process.on('SIGTERM', () => request('SIGTERM'))
  process.on('message', (m) => {
    if (m === 'shutdown') request('shutdown message')
  })
  return stopping
}

/**
 * Holds SIGINT and SIGTERM while the supervisor starts (before `shutdownOnRequest` can stop
 * it), so Ctrl-C during a slow `init` stops it gracefully once it has started rather than killing
 * it half-way; a second signal exits at once. `release()` hands a held signal to the single
 * shutdown (call it after `shutdownOnRequest`); `cancel()`, after a failed start, only lets go.
 */
export function holdSignalsDuringStart(): { release(): void; cancel(): void } {
  let held: string | undefined
  const hold = (signal: NodeJS.Signals): void => {
    if (held) process.exit(1)
    held = signal
    process.stderr.write(`outrigger: ${signal} while starting; stopping once the plugins have started (send it again to exit now)\n`)
  }
  process.on('SIGINT', hold)
  process.on('SIGTERM', hold)
  const cancel = (): void => {
    process.off('SIGINT', hold)
    process.off('SIGTERM', hold)
  }
  return {
    release(): void {
      cancel()
      if (held) request(`${held} during start-up`)
    },
    cancel,
  }
}

/** How long the last log lines get to reach a slow reader before the process exits anyway. */
const FINAL_FLUSH_MS = 500

function exitAfter(resolve: () => void, code: number): void {
  resolve()
  // After the awaiting callers' continuations (a final log line) have run, and their output has
  // been written, unless the reader has stalled or gone.
  setImmediate(() => void flushOutput(FINAL_FLUSH_MS).then(() => process.exit(code)))
}
