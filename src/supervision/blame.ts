/**
 * Who is to blame for an error that escapes later: every call into a core plugin runs inside an
 * `AsyncLocalStorage` context naming the plugin, and Node carries that context into whatever the
 * call starts (timers, promises, I/O callbacks). When an `uncaughtException` or an
 * `unhandledRejection` reaches the host, `culprit()` read in the process handler names the plugin
 * whose code started the work that failed (src/supervision/host-errors.ts acts on it).
 *
 * The rule, and the leak it avoids. A context follows everything started under it, the
 * supervisor's own work included: a core hook that calls `ctx.emit` runs the bus synchronously,
 * and the batch microtasks, worker dispatch, RPC and handler timeouts, store commits and instance
 * restarts that the emit schedules would all carry the hook's plugin. An error there (a supervisor
 * bug, a worker's bridge call) would then be pinned on an innocent core plugin, which would be
 * isolated while the real fault stays in the host. So:
 *  - a plugin is blamed only for work its own code started: `asPlugin` wraps the plugin's
 *    functions (init, whenReady, close, hooks, pipes, actions, functions), nothing else;
 *  - every way back from plugin code into the supervisor (`sup.emit`, `sup.call`, `ctx.state`)
 *    runs the supervisor's part `outside` any plugin, so what the supervisor schedules there
 *    carries no name, and an error in it is unblamed (the host exits, see host-errors.ts);
 *  - a promise handed back to plugin code is made in the plugin's context (an async wrapper
 *    around the neutral call): when the plugin leaves it rejected and unhandled, that is the
 *    plugin's fault, and it is blamed.
 * A worker plugin's bridge calls (`ctx.emit`, `ctx.call` from a worker) arrive through listeners
 * its instance set up at launch, outside any plugin, and go through `sup.emit` / `sup.call`: they
 * are never pinned on a core plugin, only the core function they call is named. Plugin code
 * reached from a supervisor callback without going through `asPlugin` (an `abort` listener on
 * `ctx.signal`, a service slot's auth or permission check) runs unnamed, and so does `ctx.log`
 * (the default logger writes synchronously; a logger slot is host code).
 *
 * Cost. On Node 20 an enabled `AsyncLocalStorage` installs promise hooks for the whole process,
 * so a supervisor only names plugins when someone acts on the name (`handleProcessErrors`);
 * otherwise `asPlugin` is a plain call. `run` is used around each call, with the arguments
 * passed through, so no closure is allocated per event; core hooks, which run per emit, use the
 * cheaper `nameDrain` (about 25 ns an event less than `run` on Node 20).
 */
import { AsyncLocalStorage } from 'node:async_hooks'

/** The core plugin a piece of async work belongs to. */
export interface Culprit {
  readonly plugin: string
  /** The supervisor the plugin belongs to: several supervisors may share one process. */
  readonly owner: object
}

const storage = new AsyncLocalStorage<Culprit | undefined>()

/**
 * Runs `fn(...args)` as plugin code of `culprit`; with no culprit (blame is off), a plain call.
 */
export function asPlugin<A extends unknown[], R>(culprit: Culprit | undefined, fn: (...args: A) => R, ...args: A): R {
  return culprit === undefined ? fn(...args) : storage.run(culprit, fn, ...args)
}

/**
 * Names (or, with undefined, un-names) the plugin for the rest of the current async resource. Only
 * for a drain that owns its resource: a callback queued with `queueMicrotask`, whose resource ends
 * with it, so the name cannot outlive the drain; the caller un-names before doing its own work.
 */
export function nameDrain(culprit: Culprit | undefined): void {
  storage.enterWith(culprit)
}

/** Runs supervisor work started from plugin code with no plugin named (see the rule above). */
export function outside<R>(fn: () => R): R {
  return storage.getStore() === undefined ? fn() : storage.run(undefined, fn)
}

/** The plugin whose code started the work running now, if any. */
export function culprit(): Culprit | undefined {
  return storage.getStore()
}
