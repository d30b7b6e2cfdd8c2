import { deserializeError, type SerializedError } from '../errors.js'
import type { WorkerSettings } from '../manifest/schema.js'
import type { KeyHolds } from './key-holds.js'
import type { Pending } from './queue.js'
import type { RetryBackoff } from './retry-backoff.js'

/** The part of a dispatcher's books that a failed event touches. */
export interface FailureBooks {
  readonly cfg: WorkerSettings
  readonly counters: { failed: number; inFlight: number; deadLettered: number; lost: number }
  readonly on: {
    report(event: string, error: unknown): void
    deadLetter(p: Pending, error: SerializedError | null): void
    /** The event left the books for good: a durable queue acks it in its journal. */
    settled?(p: Pending, outcome: 'failed' | 'dead-lettered'): void
  }
  /** At-least-once with `partitionBy`: a failed event holds back the later events of its key. */
  readonly holding: boolean
  readonly holds: KeyHolds
  readonly backoff: RetryBackoff
}

/**
 * A handler threw (or did not settle): at-most-once gives up, at-least-once (and durable) tries again until
 * maxAttempts. A handler that did not settle within handlerTimeoutMs is not tried again in
 * either mode: it would most likely hang again and hold its instance as long once more.
 * `held` are the batches its target still holds; the events to try again go to `retry`.
 */
export function failedAttempt(books: FailureBooks, held: Pending[][], p: Pending, error: SerializedError, retry: Pending[]): void {
  const { cfg, counters, on } = books
  if (cfg.delivery === 'at-most-once' || error.code === 'RIG_ERR_HANDLER_TIMEOUT') {
    counters.failed++
    // Rebuilt, so listeners of hook:onError see its code.
    on.report(p.event, deserializeError(error))
    on.settled?.(p, 'failed')
  } else if (p.attempts >= cfg.maxAttempts) {
    counters.deadLettered++
    on.deadLetter(p, error)
    on.settled?.(p, 'dead-lettered')
  } else return void retry.push(p)
  if (books.holding) books.holds.settledForGood(p, held[held.length - 1])
}

/**
 * Failed events go back to the front of the queue after the retry backoff (doubling with the
 * attempts made, `worker.retry.backoffMs`), so a failing dependency is not hammered. A crash
 * is not a hook failure: what a dead instance held goes back at once (restarts have their own
 * backoff). With held keys, only a key's first failed event waits for its retry; later ones of
 * the key wait behind it.
 */
export function retryLater(books: FailureBooks, events: Pending[]): void {
  const waiting: Pending[] = []
  for (const p of events) if (!books.holding || !books.holds.parkOrHead(p)) waiting.push(p)
  books.backoff.wait(waiting)
}
