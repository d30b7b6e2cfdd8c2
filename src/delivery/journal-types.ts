import type { OutriggerError } from '../errors.js'

// The journal's public types, apart so that its parts can share them; callers import them from
// journal.ts, which re-exports them.

export interface JournalOptions {
  /**
   * The group-commit window in milliseconds (host config `journal.commitMs`, default 5): an append
   * waits at most this long before the transaction that holds it starts. 0 commits at the end of
   * the current event-loop turn.
   */
  commitMs?: number
  /**
   * What a commit waits for before `committed`, `flush` and `appendDurable` resolve.
   * `'os'`: the transaction is committed and its pages are in the operating system's hands, which
   * survives the process being killed (SIGKILL, OOM killer), not a kernel crash or power cut.
   * `'disk'` (default): the transaction is also synced to the storage device.
   */
  sync?: 'os' | 'disk'
  /**
   * Called when an appended entry turns out, at its commit, not to be cloneable: it is left out
   * (alone; the rest of its batch is kept) with a `RIG_ERR_NOT_CLONEABLE` error naming the event,
   * and the `meta` it was appended with.
   */
  onRefused?: (seq: number, err: OutriggerError, meta: unknown) => void
  /** Called once when a commit fails; from then on appends throw `RIG_ERR_JOURNAL`. */
  onError?: (err: OutriggerError) => void
}

/** One event read back from the journal: what was appended, in append order. */
export interface JournalEntry {
  /** The journal's sequence number: increasing in append order, never reused, across runs too. */
  seq: number
  event: string
  payload: unknown
  /** Whatever the caller passed to `append` as `meta` (undefined when it passed none). */
  meta: unknown
  /** The last count given to `recordAttempt` for this entry, 0 if none. */
  attempts: number
}

export interface JournalStats {
  appended: number
  acked: number
  /** Acked before their commit, so never written at all. */
  elided: number
  /** Refused at their commit because they cannot be cloned. */
  refused: number
  /** Write transactions started. */
  commits: number
  /** Entries an earlier run left, returned by `recover()` so far. */
  recovered: number
}
