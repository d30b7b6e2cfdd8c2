/**
 * The producer side of a cluster plugin: an accepted event is encoded at once (a payload that
 * cannot be cloned is refused alone, like a local plugin's), buffered until the end of the tick,
 * and appended to its stream with one pipelined XADD per event. When the link is down, or the
 * outbox still holds older events, it goes to the outbox instead (src/cluster/forwarder.ts).
 */
import { OutriggerError, errorMessage } from '../errors.js'
import { encode } from './codec.js'
import type { RedisLink } from './connection.js'
import { FIELD } from './codec.js'
import type { Outbox, Outgoing } from './forwarder.js'

/** Events per pipelined XADD round trip. */
export const PRODUCE_BATCH = 256

export class StreamProducer {
  private buf: Outgoing[] = []
  private queued = false
  private inFlight = 0
  appended = 0
  rejected = 0

  constructor(
    private readonly link: RedisLink,
    private readonly streamOf: (payload: unknown) => string,
    private readonly outbox: Outbox,
    private readonly refused: (event: string, err: OutriggerError) => void,
  ) {}

  /** Takes an event; false when its payload cannot be cloned (counted, reported). */
  accept(subscription: string, event: string, payload: unknown): boolean {
    let body: Buffer
    try {
      body = encode(event, subscription, payload)
    } catch (err) {
      this.rejected++
      this.refused(event, new OutriggerError('RIG_ERR_NOT_CLONEABLE', `event "${event}": its payload cannot be cloned to the cluster stream (${errorMessage(err)}); emit plain data`))
      return false
    }
    this.buf.push({ event, subscription, key: this.streamOf(payload), body })
    if (this.buf.length >= PRODUCE_BATCH) this.flush()
    else if (!this.queued) {
      this.queued = true
      queueMicrotask(() => {
        this.queued = false
        this.flush()
      })
    }
    return true
  }

  /** Nothing buffered and no append waiting for its answer. */
  get empty(): boolean {
    return this.buf.length === 0 && this.inFlight === 0
  }

  flush(): void {
    if (!this.buf.length) return
    const batch = this.buf
    this.buf = []
    if (!this.link.up || this.outbox.waiting) {
      for (const e of batch) this.outbox.add(e)
      if (this.link.up) void this.outbox.forward(this.write)
      return
    }
    this.inFlight += batch.length
    void this.write(batch).then((landed) => {
      this.inFlight -= batch.length
      // What did not land waits in the outbox (the link dropped mid-way).
      batch.forEach((e, i) => landed[i] || this.outbox.add(e))
    })
  }

  /** Appends events to their streams in one pipeline; says which landed. */
  readonly write = async (events: Outgoing[]): Promise<boolean[]> => {
    if (!this.link.up) return events.map(() => false)
    const pipe = this.link.client.pipeline()
    for (const e of events) pipe.xadd(e.key, '*', FIELD, e.body)
    try {
      const res = await pipe.exec()
      const landed = events.map((_, i) => !!res && !res[i][0])
      this.appended += landed.filter(Boolean).length
      return landed
    } catch {
      return events.map(() => false)
    }
  }
}
