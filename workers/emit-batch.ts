/**
 * `ctx.emit` in a worker: events gather for the rest of the tick (or until EMIT_BATCH_MAX) and
 * travel to the host as one message, in order, instead of one rpc each. The host answers each
 * batch with whether a worker plugin it fed is above its high-water mark; `ctx.emit` returns the
 * latest answer, so a source learns of backpressure one batch late, which the high-water mark's
 * headroom absorbs.
 */
import type { RemoteCall } from '../src/rpc-link.js'
import { OutriggerError, errorMessage } from '../src/errors.js'

/** Events per message at most: a source emitting in a tight loop still sends bounded messages. */
export const EMIT_BATCH_MAX = 512

export class EmitBatch {
  /** Flat: [event, payload, event, payload, …]. */
  private buf: unknown[] = []
  private queued = false
  private full = false
  /** Answers are applied in the order the questions were sent (see `answer`). */
  private sent = 0
  private applied = 0

  constructor(private readonly bridge: RemoteCall, private readonly failed: (err: Error) => void) {}

  emit(event: string, payload: unknown): boolean {
    this.buf.push(event, payload)
    if (this.buf.length >= EMIT_BATCH_MAX * 2) this.flush()
    else if (!this.queued) {
      this.queued = true
      queueMicrotask(this.flush)
    }
    return !this.full
  }

  /**
   * Sends what is gathered now. Called before any other call to the host (state, call) too, so
   * what a plugin emitted reaches the host before, say, the checkpoint it writes after it.
   */
  readonly flush = (): void => {
    this.queued = false
    if (this.buf.length === 0) return
    const events = this.buf
    this.buf = []
    const n = ++this.sent
    this.bridge('emitBatch', [events]).then(
      (ok) => this.answer(n, ok === false),
      (err: Error) => (isCloneError(err) ? this.oneByOne(events) : this.failed(err)),
    )
  }

  /** Resolves once the worker plugins this instance fed are below their low-water marks. */
  async drained(): Promise<void> {
    this.flush()
    const n = this.sent
    // No timeout: waiting is the point. The host releases it at shutdown, and an exit rejects it.
    await this.bridge('drained', [], 0)
    this.answer(n, false)
  }

  private answer(n: number, full: boolean): void {
    if (n < this.applied) return
    this.applied = n
    this.full = full
  }

  /** A payload that cannot be cloned refuses its whole batch: the others go on their own, the bad one is reported alone. */
  private oneByOne(events: unknown[]): void {
    for (let i = 0; i < events.length; i += 2) {
      const n = ++this.sent
      this.bridge('emitBatch', [[events[i], events[i + 1]]]).then(
        (ok) => this.answer(n, ok === false),
        (err: Error) => this.failed(isCloneError(err) ? new OutriggerError('RIG_ERR_NOT_CLONEABLE', `ctx.emit("${String(events[i])}"): the payload cannot be structured-cloned: ${errorMessage(err)}`, { cause: err }) : err),
      )
    }
  }
}

function isCloneError(err: unknown): boolean {
  return err instanceof Error && (err.name === 'DataCloneError' || / could not be cloned\.?$/.test(err.message))
}
