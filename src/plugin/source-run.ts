/**
 * One running `source` of one instance (or of a core plugin): `start` runs in the background with
 * a `ctx` whose `signal` aborts when the source is stopped or the plugin shuts down; `stop` aborts
 * it, waits for `start` to return (within a deadline) and then runs the plugin's own `stop`.
 * Host-free: the worker runtime and the core plugin handle both use it.
 */
import { OutriggerError, errorMessage } from '../errors.js'
import type { PluginContext, SourceDef } from './types.js'

export class SourceRun {
  private readonly abort = new AbortController()
  private running: Promise<void> | undefined
  private stopping: Promise<void> | undefined
  /** The ctx `start` and `stop` get: the plugin's own, with the source's signal. */
  readonly ctx: PluginContext

  /**
   * @param failed told once when `start` throws before its signal aborted: the caller ends the
   *   instance (a worker: its restart policy brings it back, and it resumes from its checkpoint) or
   *   fails the plugin (core).
   */
  constructor(private readonly def: SourceDef, base: PluginContext, private readonly failed: (err: OutriggerError) => void) {
    const signal = AbortSignal.any([base.signal, this.abort.signal])
    this.ctx = Object.create(base, { signal: { value: signal, enumerable: true } }) as PluginContext
  }

  start(): void {
    if (this.running) return
    this.running = (async () => {
      try {
        await this.def.start(this.ctx)
      } catch (err) {
        // A source that throws because it was told to stop has stopped, not failed.
        if (this.ctx.signal.aborted) return
        this.failed(new OutriggerError('RIG_ERR_SOURCE_FAILED', `plugin "${this.ctx.name}" instance ${this.ctx.instance.id}: source.start threw: ${errorMessage(err)}`, { cause: err }))
      }
    })()
  }

  /** Aborts the source's signal, waits for `start` to return (at most `waitMs`), then runs `stop`. */
  stop(waitMs: number): Promise<void> {
    return (this.stopping ??= this.stopNow(waitMs))
  }

  private async stopNow(waitMs: number): Promise<void> {
    this.abort.abort(new OutriggerError('RIG_ERR_CLOSED', 'the source is stopping'))
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, waitMs))))
    await Promise.race([this.running ?? Promise.resolve(), late])
    clearTimeout(timer)
    try {
      await this.def.stop?.(this.ctx)
    } catch (err) {
      this.ctx.log.error({ err }, `plugin "${this.ctx.name}": source.stop threw: ${errorMessage(err)}`)
    }
  }
}
