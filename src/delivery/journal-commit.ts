import type { RootDatabase } from 'lmdb'
import { OutriggerError, errorMessage } from '../errors.js'

interface Batch {
  through: number
  done: Promise<void>
}

interface Deferred {
  promise: Promise<void>
  resolve(p: Promise<void>): void
}

export const RESOLVED = Promise.resolve()

export interface GroupCommitOptions {
  /** The journal's folder, named in the error of a failed commit. */
  dir: string
  commitMs: number
  sync: 'os' | 'disk'
  onError?: (err: OutriggerError) => void
  /** Writes what is buffered (the journal's batch); run by the timer `schedule` sets. */
  write: () => void
}

/**
 * The group commit's timing and order: when the next batch starts (`commitMs` after the first write
 * it holds), the batches handed to lmdb and not yet committed, who waits on which, and the failure
 * that ends it all. Batches commit in the order they were started, so "batch k committed" means
 * every append up to its last sequence number is committed.
 */
export class GroupCommit {
  private readonly root: RootDatabase
  private readonly opts: GroupCommitOptions
  /** Batches handed to lmdb and not yet committed, oldest first. */
  private readonly inflight: Batch[] = []
  /** Waiters on appends still buffered: settled when their batch is started. */
  private nextBatch: Deferred | undefined
  private through: number
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined
  private failed: OutriggerError | undefined

  /** `committedThrough`: the last sequence number already committed (by an earlier run). */
  constructor(root: RootDatabase, opts: GroupCommitOptions, committedThrough: number) {
    this.root = root
    this.opts = opts
    this.through = committedThrough
  }

  /** Every sequence number up to this one is committed. */
  get committedThrough(): number {
    return this.through
  }

  /** Set once a commit failed: nothing more is written. */
  get failure(): OutriggerError | undefined {
    return this.failed
  }

  schedule(): void {
    if (this.timer) return
    this.timer = this.opts.commitMs > 0 ? setTimeout(this.opts.write, this.opts.commitMs) : setImmediate(this.opts.write)
  }

  clearTimer(): void {
    if (!this.timer) return
    if (this.opts.commitMs > 0) clearTimeout(this.timer as NodeJS.Timeout)
    else clearImmediate(this.timer as NodeJS.Immediate)
    this.timer = undefined
  }

  /** Settles as the next batch to start does. */
  nextStarted(): Promise<void> {
    return (this.nextBatch ??= deferred()).promise
  }

  /** Settles once `seq`, already handed to lmdb, is committed. */
  handedOut(seq: number): Promise<void> {
    for (const b of this.inflight) if (b.through >= seq) return b.done
    return RESOLVED
  }

  /** Settles once every batch started so far is committed. */
  last(): Promise<void> {
    return this.inflight.length ? this.inflight[this.inflight.length - 1].done : RESOLVED
  }

  /**
   * Starts a batch holding sequence numbers up to `through`: `issue` makes its writes, all in this
   * one synchronous turn (lmdb batches the writes of a turn into a single transaction); `onCommitted`
   * runs once it and every batch before it are committed.
   */
  start(through: number, issue: () => void, onCommitted: () => void): void {
    const waiter = this.nextBatch
    this.nextBatch = undefined
    let done: Promise<void>
    try {
      issue()
      // `committed` and `flushed` are thenables bound to the transaction being built in this turn:
      // call their `then` now, not from a later microtask.
      const committed = new Promise<void>((resolve, reject) => this.root.committed.then(() => resolve(), reject))
      done = this.opts.sync === 'os' ? committed : Promise.all([committed, new Promise<void>((resolve, reject) => this.root.flushed.then(() => resolve(), reject))]).then(() => undefined)
    } catch (err) {
      done = Promise.reject(err)
    }
    // lmdb commits transactions one after the other; chaining on the previous batch makes "this
    // batch is done" mean "every earlier one is too" without relying on the order its promises settle.
    const previous = this.last()
    const batch: Batch = {
      through,
      done: Promise.all([previous, done]).then(
        () => {
          this.inflight.splice(this.inflight.indexOf(batch), 1)
          if (through > this.through) this.through = through
          onCommitted()
        },
        (cause) => {
          this.fail(cause)
          throw this.failed
        },
      ),
    }
    // Nobody may be waiting on this batch; its failure is reported through `onError` and every later call.
    batch.done.catch(() => undefined)
    this.inflight.push(batch)
    waiter?.resolve(batch.done)
  }

  private fail(cause: unknown): void {
    if (this.failed) return
    const { dir } = this.opts
    this.failed = new OutriggerError('RIG_ERR_JOURNAL', `a commit to the journal in ${dir} failed: ${errorMessage(cause)}; events appended since the last successful commit may not be durable`, { cause, details: { dir } })
    this.opts.onError?.(this.failed)
  }
}

function deferred(): Deferred {
  let resolve!: (p: Promise<void>) => void
  const promise = new Promise<void>((r) => (resolve = r))
  return { promise, resolve }
}
