import { performance } from 'node:perf_hooks'
import { OutriggerError, errorCode, errorMessage, forLog } from '../errors.js'
import type { PluginLogger } from '../plugin/types.js'
import { Matcher, type Subscription } from './matcher.js'

/** A hook listener: a core plugin's function, or a worker plugin's queue. */
export interface HookTarget extends Subscription {
  /** Must not throw and must not block: core targets defer, worker targets enqueue. */
  deliver(event: string, payload: unknown): void
}

export interface PipeTarget extends Subscription {
  run(payload: unknown, event: string): unknown
}

export const HOOK_ERROR_EVENT = 'hook:onError'

export interface BusOptions {
  log: PluginLogger
  pipeWarnMs: number
  /** A pipe listener still pending after this long fails the chain with RIG_ERR_PIPE_TIMEOUT. */
  pipeTimeoutMs: number
  maxConcurrentPipes: number
}

/** Hooks (fire-and-forget) and pipes (series, each gets the previous result). */
export class Bus {
  readonly hooks = new Matcher<HookTarget>()
  readonly pipes = new Matcher<PipeTarget>()
  private runningPipes = 0

  constructor(private readonly opts: BusOptions) {}

  emit(event: string, payload: unknown): void {
    const targets = this.hooks.match(event)
    for (let i = 0; i < targets.length; i++) targets[i].deliver(event, payload)
  }

  /**
   * Reports a failed core hook on `hook:onError`. The guard: an error raised while handling
   * `hook:onError` itself is only logged, or one bad error handler would loop forever.
   */
  hookFailed(plugin: string, event: string, error: unknown): void {
    this.opts.log.error({ plugin, event, code: errorCode(error) ?? undefined, err: forLog(error) }, `hook "${event}" of plugin "${plugin}" failed: ${errorMessage(error)}`)
    if (event === HOOK_ERROR_EVENT) return
    this.emit(HOOK_ERROR_EVENT, { plugin, event, error: error instanceof Error ? { name: error.name, message: error.message, code: errorCode(error) } : { message: errorMessage(error) } })
  }

  async pipe<T>(event: string, payload: T): Promise<T> {
    const targets = this.pipes.match(event)
    if (targets.length === 0) return payload
    if (this.runningPipes >= this.opts.maxConcurrentPipes) {
      throw new OutriggerError('RIG_ERR_PIPE_BUSY', `pipe "${event}": ${this.runningPipes} pipe chains already running (maxConcurrentPipes); retry later or raise the limit in the host config`)
    }
    this.runningPipes++
    try {
      let value: unknown = payload
      let started = performance.now()
      for (const target of targets) {
        let out: unknown
        try {
          out = await this.step(target, value, event)
        } catch (err) {
          if (errorCode(err) === 'RIG_ERR_PIPE_TIMEOUT') throw err
          const status = (err as { status?: unknown }).status
          throw new OutriggerError('RIG_ERR_PIPE_ABORTED', `pipe "${event}" aborted by plugin "${target.plugin}": ${errorMessage(err)}`, {
            cause: err,
            details: { plugin: target.plugin, event, status: typeof status === 'number' ? status : undefined },
          })
        }
        if (out !== undefined) value = out
        const ended = performance.now()
        const ms = ended - started
        started = ended
        if (ms > this.opts.pipeWarnMs) this.opts.log.warn({ plugin: target.plugin, event, ms }, `pipe "${event}" of plugin "${target.plugin}" took ${Math.round(ms)} ms`)
      }
      return value as T
    } finally {
      this.runningPipes--
    }
  }

  /**
   * One listener, watched while it runs: a warning at `pipeWarnMs` while it is still pending (a
   * listener that never settles would otherwise never be reported), and RIG_ERR_PIPE_TIMEOUT at
   * `pipeTimeoutMs`. The listener is not cancelled (JavaScript cannot), but the chain stops
   * waiting for it: the caller gets the error and the chain's concurrency slot is freed.
   */
  private async step(target: PipeTarget, value: unknown, event: string): Promise<unknown> {
    const { pipeWarnMs, pipeTimeoutMs, log } = this.opts
    let warn: NodeJS.Timeout | undefined
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new OutriggerError('RIG_ERR_PIPE_TIMEOUT', `pipe "${event}": plugin "${target.plugin}" did not settle within ${pipeTimeoutMs} ms (timeouts.pipeTimeoutMs); the chain gave up on it`, { details: { plugin: target.plugin, event } })), pipeTimeoutMs)
    })
    if (pipeWarnMs < pipeTimeoutMs) {
      warn = setTimeout(() => log.warn({ plugin: target.plugin, event, ms: pipeWarnMs, pending: true }, `pipe "${event}" of plugin "${target.plugin}" still pending after ${pipeWarnMs} ms`), pipeWarnMs)
    }
    try {
      return await Promise.race([Promise.resolve().then(() => target.run(value, event)), deadline])
    } finally {
      clearTimeout(warn)
      clearTimeout(timer)
    }
  }
}
