/**
 * The slice of @pm2/io that the pm2 glue uses, and its lazy loader.
 *
 * Importing @pm2/io is not inert: it initialises itself on import (an uncaughtException handler,
 * a require hook that wraps `http`, event-loop and v8 samplers, an inspector session) and, once
 * its IPC transport exists, calls `process.exit(1)` when a send finds the parent's channel closed.
 * So it is imported only under pm2. There, pm2's own copy has usually initialised already (it is
 * preloaded into every app and shares its instance through a global symbol), and `init` below
 * replaces that default setup with ours.
 */

/** An active gauge: `set` stores the value pm2 reads about once a second. */
export interface Pm2Gauge {
  set(value: number | string): void
}

export type ActionReply = (value: unknown) => void

export interface Pm2Io {
  init(config: Record<string, unknown>): Pm2Io
  destroy(): void
  metric(opts: { name: string; unit?: string; historic?: boolean }): Pm2Gauge
  /** The handler's arity matters: with two parameters it receives the trigger's parameter. */
  action(name: string, handler: ((reply: ActionReply) => void) | ((param: unknown, reply: ActionReply) => void)): void
}

/**
 * What we turn on: only custom metrics and actions. The event-loop sampler is off because the
 * supervisor measures its own loop and publishes that p99 (one sampler, one number); `http` is off
 * because its require hook would wrap the HTTP API's server; `runtime` needs an optional native
 * module. Exceptions are still reported to pm2 (`pm2 show` counts them), as without the glue.
 */
const IO_CONFIG = {
  catchExceptions: true,
  profiling: true,
  tracing: { enabled: false },
  metrics: { eventLoop: false, http: false, network: false, runtime: false, v8: true },
}

export async function loadIo(): Promise<Pm2Io> {
  const mod = (await import('@pm2/io')) as unknown as { default: Pm2Io }
  return mod.default.init(IO_CONFIG)
}
