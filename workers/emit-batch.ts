/**
 * `ctx.emit` in a worker: the first event of a tick leaves at once; the others gather for the rest
 * of the tick (or until EMIT_BATCH_MAX) and travel to the host as one message, in order, instead
 * of one rpc each.
 *
 * Backpressure across the boundary: the host answers each batch (and each `drained`) with the
 * room left below the high-water mark of the fullest worker plugin this instance fed. The worker
 * spends that room as it emits, counting what it sent since the answer's batch left, and
 * `ctx.emit` answers false once it is spent. So a source that waits when told never has more on
 * its way than fits, although every answer is one message late. Before the first answer the room
 * is unknown, and taken as none: a source's first `drained()` asks for it.
 */
import type { RemoteCall } from '../src/rpc-link.js'
import { OutriggerError, errorMessage } from '../src/errors.js'

/** Events per message at most: a source emitting in a tight loop still sends bounded messages. */
export const EMIT_BATCH_MAX = 512

export class EmitBatch {
  /** Flat: [event, payload, event, payload, …]. */
  private buf: unknown[] = []
  private queued = false
  /** Events emitted so far, and the count when each unanswered batch left. */
  private emitted = 0
  private readonly sentAt = new Map<number, number>()
  private sent = 0
  private applied = 0
  /** Room left below the high-water mark, as of the latest answer, less what was emitted since. */
  private room = 0

  constructor(private readonly bridge: RemoteCall, private readonly failed: (err: Error) => void) {}

  emit(event: string, payload: unknown): boolean {
    this.buf.push(event, payload)
    this.emitted++
    this.room--
    if (!this.queued) {
      // The first emit of a tick leaves at once: a hook that emits and then holds its event loop
      // (or dies) has still told the host. The rest of the tick's emits gather behind it.
      this.queued = true
      this.send()
      queueMicrotask(this.flush)
    } else if (this.buf.length >= EMIT_BATCH_MAX * 2) this.send()
    return this.room > 0
  }

  /**
   * Sends what is gathered now. Called before any other call to the host (state, call) too, so
   * what a plugin emitted reaches the host before, say, the checkpoint it writes after it.
   */
  readonly flush = (): void => {
    this.queued = false
    this.send()
  }

  private send(): void {
    if (this.buf.length === 0) return
    const events = this.buf
    this.buf = []
    this.ask(this.bridge('emitBatch', [events]), (err) => (isCloneError(err) ? this.oneByOne(events) : this.failed(err)))
  }

  /** Resolves once the worker plugins this instance fed are below their low-water marks. */
  async drained(): Promise<void> {
    this.flush()
    // No timeout: waiting is the point. The host releases it at shutdown, and an exit rejects it.
    await new Promise<void>((resolve, reject) => this.ask(this.bridge('drained', [], 0), reject, resolve))
  }

  /** Sends a question whose answer is the room; answers are applied in the order asked. */
  private ask(answer: Promise<unknown>, failed: (err: Error) => void, then?: () => void): void {
    const n = ++this.sent
    this.sentAt.set(n, this.emitted)
    answer.then(
      (room) => {
        const at = this.sentAt.get(n)!
        this.sentAt.delete(n)
        if (n > this.applied && typeof room === 'number') {
          this.applied = n
          this.room = room - (this.emitted - at)
        }
        then?.()
      },
      (err: Error) => {
        this.sentAt.delete(n)
        failed(err)
      },
    )
  }

  /** A payload that cannot be cloned refuses its whole batch: the others go on their own, the bad one is reported alone. */
  private oneByOne(events: unknown[]): void {
    for (let i = 0; i < events.length; i += 2) {
      const event = String(events[i])
      this.ask(this.bridge('emitBatch', [[events[i], events[i + 1]]]), (err) =>
        this.failed(isCloneError(err) ? new OutriggerError('RIG_ERR_NOT_CLONEABLE', `ctx.emit("${event}"): the payload cannot be structured-cloned: ${errorMessage(err)}`, { cause: err }) : err),
      )
    }
  }
}

function isCloneError(err: unknown): boolean {
  return err instanceof Error && (err.name === 'DataCloneError' || / could not be cloned\.?$/.test(err.message))
}
