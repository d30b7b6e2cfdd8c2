import type { SerializedError } from '../errors.js'
import type { Pending } from './queue.js'

/** What a dispatcher tells its owner (the worker plugin). */
export interface DispatchEvents {
  /** A final failure worth telling listeners about (hook error, non-cloneable payload, drop). */
  report(event: string, error: unknown): void
  deadLetter(p: Pending, error: SerializedError | null): void
  onIdle(): void
  /** A retired instance has answered every batch it held. */
  retired(id: number): void
  /**
   * The event left the books for good, as `outcome`: a durable queue acks it in its journal.
   */
  settled?(p: Pending, outcome: 'processed' | 'failed' | 'dead-lettered' | 'rejected' | 'dropped'): void
}
