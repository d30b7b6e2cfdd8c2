/**
 * The host error policy: what the host does with an `uncaughtException` or an
 * `unhandledRejection` that reaches it, by the host config's `hostErrors`.
 *
 *  - `"isolate"` (the default): when the error can be blamed on a core plugin (its code started
 *    the timer, promise or callback that failed; src/supervision/blame.ts), that plugin is failed,
 *    taken off the bus, the error counted in its status and logged once, and the host keeps
 *    running. An error no plugin can be blamed for, or one blamed on a plugin that provides a
 *    service slot (the host cannot run on without it), takes the exit path.
 *  - `"exit"`: every such error takes the exit path, blamed or not.
 *
 * The exit path stops gracefully (drain within `timeouts.drainMs`, close the plugins, stop the
 * workers, as on SIGTERM), then exits 1 so that pm2 (or any service manager) restarts the host.
 * A watchdog exits 1 anyway if the stop itself hangs. The state after an unexpected error is
 * unknown: exiting is the safe default, isolation the exception it earns by naming the culprit.
 *
 * Process-wide handlers belong to the process's owner: `outrigger start` installs them, and a
 * host application only by asking (`startSupervisor({ handleProcessErrors: true })`).
 */
import { errorMessage } from '../errors.js'
import type { PluginLogger } from '../plugin/types.js'
import { culprit, type Culprit } from './blame.js'
import type { IsolateOutcome } from '../supervisor/types.js'

export type HostErrorMode = 'isolate' | 'exit'

/** What the policy needs of a supervisor. */
export interface IsolatingSupervisor {
  readonly log: PluginLogger
  /** Fails a core plugin for an escaped error (see OutriggerSupervisor.isolate). */
  isolate(who: Culprit, error: unknown): IsolateOutcome
  stop(): Promise<void>
}

export interface HostErrorOptions {
  mode: HostErrorMode
  /** How long the graceful stop may take before the watchdog exits anyway. */
  stopDeadlineMs: number
  /** Ends the process (default `process.exit`). */
  exit?: (code: number) => void
}

type Origin = 'uncaughtException' | 'unhandledRejection'

/** Installs the handlers; returns the function that removes them. */
export function handleProcessErrors(sup: IsolatingSupervisor, opts: HostErrorOptions): () => void {
  const exit = opts.exit ?? ((code: number) => process.exit(code))
  let exiting = false
  /** Later errors of an already isolated plugin, by plugin: logged at 1, 2, 4, 8… to stay readable. */
  const again = new Map<string, number>()

  const onError = (error: unknown, origin: Origin): void => {
    const who = culprit()
    const what = origin === 'unhandledRejection' ? 'an unhandled rejection' : 'an uncaught exception'
    const message = errorMessage(error)
    // Another supervisor's plugin (two may share a process): that supervisor's handler answers.
    if (who && who.owner !== sup) return
    const outcome = who && opts.mode === 'isolate' ? sup.isolate(who, error) : undefined
    if (who) {
      if (outcome === 'isolated') {
        sup.log.error(
          { plugin: who.plugin, origin, err: error },
          `plugin "${who.plugin}" failed: ${what} escaped from its code: ${message}; it is isolated (its hooks, pipes, routes and functions are off) and the host keeps running (hostErrors "isolate")`,
        )
        return
      }
      if (outcome === 'again') {
        const n = (again.get(who.plugin) ?? 0) + 1
        again.set(who.plugin, n)
        if ((n & (n - 1)) === 0) sup.log.warn({ plugin: who.plugin, origin, err: error, count: n }, `plugin "${who.plugin}", already isolated, let ${what} escape again (${n} since): ${message}`)
        return
      }
    }
    const blame = who ? `from plugin "${who.plugin}"` : 'that no plugin can be blamed for'
    if (exiting) {
      sup.log.error({ plugin: who?.plugin, origin, err: error }, `${what} ${blame} while stopping for an earlier one: ${message}`)
      return
    }
    exiting = true
    const why = outcome === 'slot' ? 'it provides a service slot the host needs' : who ? 'hostErrors "exit"' : 'no plugin to isolate'
    sup.log.fatal({ plugin: who?.plugin, origin, err: error }, `${what} ${blame}: ${message}; stopping gracefully, then exiting 1 (${why})`)
    process.stderr.write(`outrigger: ${what} ${blame} (${why}), stopping (drain, close plugins, stop workers), then exiting 1\n${error instanceof Error ? error.stack : message}\n`)
    // Unref'd: it must not keep a process alive that has nothing left to do.
    setTimeout(() => {
      process.stderr.write(`outrigger: the stop did not finish within ${opts.stopDeadlineMs} ms; exiting 1 now\n`)
      exit(1)
    }, opts.stopDeadlineMs).unref()
    sup.stop().then(
      // After the awaiting callers' continuations (a final log line) have run.
      () => setImmediate(() => exit(1)),
      (err: unknown) => {
        sup.log.error({ err }, `stopping failed: ${errorMessage(err)}`)
        setImmediate(() => exit(1))
      },
    )
  }

  const onUncaught = (error: unknown): void => onError(error, 'uncaughtException')
  const onRejection = (reason: unknown): void => onError(reason, 'unhandledRejection')
  process.on('uncaughtException', onUncaught)
  process.on('unhandledRejection', onRejection)
  return () => {
    process.off('uncaughtException', onUncaught)
    process.off('unhandledRejection', onRejection)
  }
}
