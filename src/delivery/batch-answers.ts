/**
 * What an instance's answer to a batch does to the dispatcher's books. Kept apart from the
 * dispatcher, which decides what goes where; these decide, event by event, what an answer means:
 * processed, tried again, held behind its key, failed, dead-lettered or rejected. One call per
 * batch, the events in a plain loop.
 */
import { errorCode, errorMessage } from '../errors.js'
import type { RunResults, WorkerInstance } from '../hosts/worker-host.js'
import type { Latency } from '../supervision/latency.js'
import type { DispatchEvents } from './dispatch-events.js'
import { failedAttempt, retryLater, type FailureBooks } from './failed-attempts.js'
import type { EventQueue, Pending } from './queue.js'
import { answered, type Target } from './targets.js'
import { isolateUncloneable } from './uncloneable.js'

/** The part of a dispatcher's books that an answer touches. */
export interface AnswerBooks extends FailureBooks {
  readonly counters: { processed: number; failed: number; inFlight: number; deadLettered: number; lost: number; rejected: number }
  readonly on: DispatchEvents
  readonly latency: Latency
  readonly queue: EventQueue
  /** With `partitionBy`: a target's events wait in the partition of its id, else all in partition 0. */
  readonly partitioned: boolean
}

/** Takes a batch off its target; false when the target already gave it up (its instance died). */
function settle(books: AnswerBooks, t: Target, instance: WorkerInstance, batch: Pending[]): boolean {
  const i = t.batches.indexOf(batch)
  if (i < 0 || t.instance !== instance) return false
  t.batches.splice(i, 1)
  t.load -= batch.length
  books.counters.inFlight -= batch.length
  if (!t.accepting && t.batches.length === 0) queueMicrotask(() => books.on.retired(t.id))
  return true
}

/** The instance ran the batch. False when the answer came too late to count (see `settle`). */
export function batchAcked(books: AnswerBooks, t: Target, instance: WorkerInstance, batch: Pending[], results: RunResults): boolean {
  if (!settle(books, t, instance, batch)) return false
  const { counters, latency, on, holds } = books
  answered(t, batch, results.waited === true, books.queue.length(books.partitioned ? t.id : 0) > 0)
  const retry: Pending[] = []
  const held: Pending[] = []
  for (let i = 0; i < batch.length; i++) {
    const r = results[i]
    if (r.ok) {
      latency.record(r.ms)
      counters.processed++
      on.settled?.(batch[i], 'processed')
      if (holds.size !== 0) holds.succeeded(batch[i])
    } else if (r.held) held.push(batch[i])
    else {
      latency.record(r.ms)
      if (books.holding) t.failuresSeen++
      failedAttempt(books, t.batches, batch[i], r.error, retry)
    }
  }
  if (retry.length) retryLater(books, retry)
  // After retryLater: a failure in this very batch holds its key only from there on, and the
  // events the runtime held back behind it must be parked behind it (see heldBack).
  if (held.length) holds.heldBack(held)
  if (holds.size !== 0) holds.releaseAfter(batch)
  return true
}

/** The instance did not run the batch. False when nothing changed in the books. */
export function batchRefused(books: AnswerBooks, t: Target, instance: WorkerInstance, batch: Pending[], err: unknown): boolean {
  const code = errorCode(err) ?? undefined
  if (code === 'RIG_ERR_WORKER_EXITED') return false // detach() accounts for all the instance held, in order
  if (!settle(books, t, instance, batch)) return false
  if (code !== 'RIG_ERR_NOT_CLONEABLE') {
    // The instance lives but refused the batch (a protocol or call error): every event in it
    // failed an attempt.
    const retry: Pending[] = []
    const error = { name: 'Error', code, message: errorMessage(err) }
    for (const p of batch) failedAttempt(books, t.batches, p, error, retry)
    if (retry.length) retryLater(books, retry)
    if (books.holds.size !== 0) books.holds.releaseAfter(batch)
    return true
  }
  // Isolate the bad payloads; the rest go again without counting an attempt.
  const good = isolateUncloneable(batch, (p, error) => {
    books.counters.rejected++
    books.on.settled?.(p, 'rejected')
    books.on.report(p.event, error)
  })
  books.queue.requeue(good)
  if (books.holds.size !== 0) books.holds.releaseAfter(batch)
  return true
}
