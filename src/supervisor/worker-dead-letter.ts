import { errorMessage, forLog, type SerializedError } from '../errors.js'
import type { DeadLetters } from '../delivery/dead-letters.js'
import type { DurableQueue } from '../delivery/durable-queue.js'
import type { Pending } from '../delivery/queue.js'
import type { PluginLogger } from '../plugin/types.js'
import type { PluginStatus } from './status-types.js'

/** What storing a worker plugin's dead letter needs. */
export interface DeadLetterSink {
  plugin: string
  log: PluginLogger
  letters: DeadLetters
  durable: DurableQueue | undefined
  noteError(error: NonNullable<PluginStatus['lastError']>): void
}

/** Stores an event that ran out of attempts (or could not be drained) as a dead letter, and says so. */
export function storeDeadLetter(s: DeadLetterSink, p: Pending, error: SerializedError | null): void {
  // Durable: the journal forgets the event once its dead letter is stored, not before (so
  // `settled`, which follows this call, finds no journal number to ack).
  const seq = p.journal
  p.journal = undefined
  // At shutdown, `close` says in one line how many were left over, not one line each.
  if (error?.code !== 'RIG_ERR_CLOSED') {
    const why = error ? `: ${error.message}` : ''
    if (error) s.noteError({ code: error.code ?? null, message: error.message })
    s.log.error({ plugin: s.plugin, event: p.event, attempts: p.attempts, ...(error ? { err: forLog(error) } : {}) }, `plugin "${s.plugin}": event "${p.event}" dead-lettered after ${p.attempts} attempt(s)${why}; list or replay it with "outrigger dead-letters list|replay ${s.plugin}"`)
  }
  s.letters
    .add({ event: p.event, subscription: p.subscription, payload: p.payload, attempts: p.attempts, error: error ? { code: error.code ?? null, message: error.message } : null })
    .then(() => seq !== undefined && s.durable?.journal.ack(seq))
    .catch((err) => s.log.error({ plugin: s.plugin, err }, `could not store a dead letter of "${p.event}": ${errorMessage(err)}`))
}
