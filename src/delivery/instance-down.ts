import { OutriggerError, errorMessage } from '../errors.js'
import type { FailureBooks } from './failed-attempts.js'
import type { Pending } from './queue.js'

/** How a target's instance went down. */
export interface DownInfo {
  /**
   * Killed because it stopped answering (a blocked event loop): it was silent long enough for
   * every answer it had sent to arrive, so the first unanswered batch is the one it was running
   * and the later ones never started.
   */
  hung: boolean
}

/**
 * Sorts the unanswered batches of a gone instance. Batches run one after the other, so only the
 * oldest can have started: the later ones go back to the front of the queue, in order, without
 * counting an attempt — in both modes when it was killed for hanging (`hung`), and under
 * at-least-once after any exit (an answer may still be on its way when a crashed instance's exit
 * is seen, so at-most-once cannot be sure they did not run).
 *
 * The oldest batch of an instance killed for hanging held the hook that blocked its loop, and
 * the host cannot tell which event that was (the runtime cannot speak while blocked, and a
 * message per event would cost the hot path). When the batch is a single event, that is the
 * one: it fails with RIG_ERR_HANDLER_TIMEOUT, final like a timeout the runtime saw itself.
 * Otherwise under at-least-once its events go back as suspects, without counting an attempt,
 * and are sent one per batch: a second hang then names its event, and the innocent ones are
 * never charged. Under at-most-once they may have run, so they are lost, as after a crash.
 *
 * Returns `unstarted` (never started: back in front of what may have run, and not counted as
 * redelivered) and `back` (to be redelivered).
 */
export function sortUnanswered(batches: Pending[][], cause: unknown, how: DownInfo, books: FailureBooks): { unstarted: Pending[]; back: Pending[] } {
  const { cfg, counters, on } = books
  const back: Pending[] = []
  const unstarted: Pending[] = []
  for (let b = 0; b < batches.length; b++) {
    const batch = batches[b]
    counters.inFlight -= batch.length
    if (b > 0 && (how.hung || cfg.delivery !== 'at-most-once')) {
      for (const p of batch) {
        p.attempts--
        unstarted.push(p)
      }
    } else if (how.hung && batch.length === 1) {
      const p = batch[0]
      counters.failed++
      on.report(p.event, new OutriggerError('RIG_ERR_HANDLER_TIMEOUT', `event "${p.event}": its hook blocked the worker's event loop (no heartbeat answer within limits.unresponsiveMs); the instance was killed`, { cause }))
      on.settled?.(p, 'failed')
      if (books.holding) settled(books, p)
    } else if (cfg.delivery === 'at-most-once') counters.lost += batch.length
    else if (how.hung) {
      for (const p of batch) {
        p.attempts--
        p.suspect = true
        back.push(p)
      }
    } else {
      const error = { name: 'OutriggerError', code: 'RIG_ERR_WORKER_EXITED', message: errorMessage(cause) }
      for (const p of batch) {
        if (p.attempts >= cfg.maxAttempts) {
          counters.deadLettered++
          on.deadLetter(p, error)
          on.settled?.(p, 'dead-lettered')
          if (books.holding) settled(books, p)
        } else back.push(p)
      }
    }
  }
  return { unstarted, back }
}

/** `p` failed for good; its instance holds no batches any more, so its key may go at once. */
function settled(books: FailureBooks, p: Pending): void {
  books.holds.settledForGood(p, undefined)
}
