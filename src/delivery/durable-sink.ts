/**
 * The sinks of a durable worker plugin: an event a sink is still gathering is in the journal from
 * the moment it is accepted, and the batch it ends up in takes its place there.
 *
 * - Gathered (`gather`): the event is appended to the plugin's journal like any event, with the
 *   meta `[subscription]` that marks it as gathered for the sink `subscription` (a hook's event
 *   has its subscription, a string, as meta). It goes to the sink's batcher, not to the queue.
 * - Its batch leaves (`close`): the batch is appended as one entry under the sink's subscription
 *   (the event the worker runs the sink's `write` for) and the events gathered into it are acked,
 *   with one `journal.replace`: the same group commit, so one lmdb transaction.
 * - Read back after a crash: a gathered event goes to its sink's batcher again, under its own
 *   sequence number (nothing is appended), and the batch it ends up in replaces it as above; a
 *   batch is read back like any event, into the queue.
 *
 * Why nothing is lost or doubled, whenever the host dies (SIGKILL, power cut):
 *
 * 1. Before the event's own group commit: it was not promised yet, as for any event (`emit` within
 *    `journal.commitMs`; `emitDurable` and `flush` have not resolved).
 * 2. Gathered and committed, its batch still open: the journal holds the event; the restart
 *    gathers it again.
 * 3. The batch left, its transaction not committed: the journal still holds the events gathered
 *    and committed, and not the batch (which nobody could have processed from the journal); the
 *    restart gathers them again. If the batch was written before the crash, they are written
 *    twice: at least once, as promised.
 * 4. The batch's transaction committed: the journal holds the batch and none of its events; the
 *    restart delivers the batch, once more if its ack was not committed (at least once).
 * 5. The batch processed before its own commit: the journal never writes it, and the same
 *    transaction still deletes its events (acked before their commit: elided, nothing written).
 *    Dying before that transaction is case 3.
 * 6. Read back, gathered again, dying again before the new batch's transaction: the events are
 *    still the same entries (the same sequence numbers, never appended twice), so case 2 or 3.
 * 7. Read back, held here because no instance has declared the sinks yet: nothing was written
 *    for them, they stay as they are (case 2), at a stop too. A stop hands every open batch on
 *    before the drain, so those events leave as in case 3 or 4.
 *
 * Each transaction holds the batch and the deletion of its events or neither, so the store never
 * holds both, nor neither. One way out of that would be a batch refused at its commit (a payload
 * that cannot be cloned), while the acks of its events still commit: so before the batch is
 * appended, the events of it not committed yet are checked (`journal.refuseUncloneable`: one
 * encode) and the refused ones left out of it, each reported alone; those already committed
 * passed their own check. A gathered event refused at its own commit leaves its open batch then.
 *
 * Cost: each gathered event is an append (no I/O, no encoding at the emit), and is encoded and
 * written with its group commit unless its batch leaves first; a batch is one more entry, and its
 * events' deletion rides on its transaction. A gathered event does not take room in the queue's
 * window: the batcher holds it (at most `batch.max` per sink).
 */
import type { OutriggerError } from '../errors.js'
import type { SinkItem } from '../plugin/types.js'
import type { Journal, JournalEntry } from './journal.js'

/** The journal meta of an event gathered for the sink `subscription`. */
export const gatheredMeta = (subscription: string): [subscription: string] => [subscription]

/** The sink an entry was gathered for, from its meta; undefined for any other entry. */
export function gatheredFor(meta: unknown): string | undefined {
  return Array.isArray(meta) && typeof meta[0] === 'string' ? meta[0] : undefined
}

/** What the durable queue lends: its journal, the commits `emitDurable` waits for, its intake. */
export interface GatheringQueue {
  readonly journal: Journal
  readonly capture: Array<Promise<void>> | undefined
  /** Queues (or parks) an event, journaled with `journal.replace(replaces, …)` when `replaces` is given. */
  enqueue(subscription: string, event: string, payload: unknown, replaces?: readonly number[]): void
  report(event: string, err: OutriggerError): void
}

/** Who gathers: the plugin's sinks (worker-io.ts). */
export interface Gatherer {
  /** An event an earlier run left gathering for `subscription`: gather it again, under `entry.seq`. */
  regather(subscription: string, entry: JournalEntry): void
  /** A gathered event was refused at its commit (its payload cannot be cloned): it leaves its open batch. */
  refused(subscription: string, seq: number): void
}

export class GatheredEvents {
  /** Gathered events an earlier run left, read back before the sinks were known (before the first instance's handshake). */
  private held: JournalEntry[] = []
  private gatherer: Gatherer | undefined
  /**
   * One meta array per sink, shared by all its entries: v8 writes an object it already wrote in
   * the same record as a back-reference, so the meta costs a few bytes per entry after the first.
   */
  private readonly metas = new Map<string, [string]>()

  constructor(private readonly q: GatheringQueue) {}

  /**
   * Journals an event a sink gathers; its sequence number, or undefined when the journal failed
   * (it is gathered in memory only then, and `emitDurable` rejects).
   */
  gather(subscription: string, event: string, payload: unknown): number | undefined {
    const { journal, capture } = this.q
    let seq: number
    try {
      let meta = this.metas.get(subscription)
      if (!meta) this.metas.set(subscription, (meta = gatheredMeta(subscription)))
      seq = journal.append(event, payload, meta)
    } catch (err) {
      capture?.push(Promise.reject(err))
      return undefined
    }
    capture?.push(journal.committed(seq))
    return seq
  }

  /**
   * A batch leaves its sink: it takes the place of its gathered events in the journal, and enters
   * the queue. `seqs[i]` is `batch[i]`'s sequence number (undefined: not journaled). Returns how
   * many of its events were left out (refused).
   */
  close(subscription: string, batch: SinkItem[], seqs: ReadonlyArray<number | undefined>): number {
    const journaled = seqs.filter((s): s is number => s !== undefined)
    let items = batch
    let replaces = journaled
    const refused = journaled.length > 0 ? this.q.journal.refuseUncloneable(journaled) : []
    if (refused.length > 0) {
      const out = new Set(refused)
      items = batch.filter((_, i) => !out.has(seqs[i]!))
      replaces = journaled.filter((s) => !out.has(s))
    }
    if (items.length > 0) this.q.enqueue(subscription, subscription, items, replaces)
    return batch.length - items.length
  }

  /** A gathered event read back from an earlier run: to its sink, or held until the sinks are known. */
  recovered(entry: JournalEntry): void {
    if (this.gatherer) this.gatherer.regather(gatheredFor(entry.meta)!, entry)
    else this.held.push(entry)
  }

  /** A gathered event refused at its commit: reported (once, here), and out of its batch. */
  refused(subscription: string, seq: number, err: OutriggerError): void {
    this.q.report(String((err.details as { event?: unknown } | undefined)?.event ?? ''), err)
    this.gatherer?.refused(subscription, seq)
  }

  /** The sinks are known: what was held is gathered again, in order, and so is whatever is read back later. */
  attach(gatherer: Gatherer): void {
    this.gatherer = gatherer
    for (const e of this.held.splice(0)) gatherer.regather(gatheredFor(e.meta)!, e)
  }
}
