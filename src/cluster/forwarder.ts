/**
 * A cluster plugin's outbox: while Redis is unreachable, accepted events go to a local durable
 * journal (`<stateDir>/cluster-outbox/<plugin>`, the journal of src/delivery/), and once the link
 * is back they are forwarded to the stream, oldest first, then acked in the journal.
 *
 * While anything waits in the outbox, new events queue behind it (in the journal too): forwarding
 * them directly would let a new event of a key overtake an older one written during the outage.
 * Entries an earlier run left (it died during an outage) are forwarded first.
 */
import path from 'node:path'
import { Journal } from '../delivery/journal.js'
import { errorMessage } from '../errors.js'

/** One event as the stream takes it: its stream, and its encoded body (src/cluster/codec.ts). */
export interface Outgoing {
  event: string
  subscription: string
  key: string
  body: Buffer
}

/** Writes events to the stream; resolves with which of them landed (false: retry later). */
export type StreamWriter = (events: Outgoing[]) => Promise<boolean[]>

const CHUNK = 512

export class Outbox {
  private journal: Journal | undefined
  /** This run's unforwarded entries: sequence numbers `from` … journal.lastSeq. */
  private from = 0
  private backlog: Generator<{ seq: number; event: string; payload: unknown; meta: unknown }> | undefined
  private held: Array<{ seq: number; event: string; payload: unknown; meta: unknown }> | undefined
  private running = false
  /** Events written to the journal because the link was down (or the outbox was not empty). */
  journaled = 0
  /** Events forwarded from the journal to the stream. */
  forwarded = 0

  constructor(private readonly dir: string, private readonly commitMs: number, private readonly failed: (err: unknown) => void) {}

  /** Opens the journal when an earlier run left entries in it (so they are forwarded first). */
  openIfLeft(): void {
    const j = this.open()
    if (j.recoveredLastSeq > 0) this.backlog = j.recover()
    else this.from = j.lastSeq + 1
  }

  private open(): Journal {
    if (!this.journal) {
      this.journal = Journal.open(path.resolve(this.dir), { commitMs: this.commitMs, sync: 'os', onError: (e) => this.failed(e) })
      this.from = this.journal.lastSeq + 1
    }
    return this.journal
  }

  /** Events wait here, not in the stream, while this is true. */
  get waiting(): boolean {
    return this.backlog !== undefined || (this.journal !== undefined && this.from <= this.journal.lastSeq)
  }

  get depth(): number {
    return this.journal ? Math.max(0, this.journal.lastSeq - this.from + 1) : 0
  }

  add(e: Outgoing): void {
    this.open().append(e.event, e.body, [e.subscription, e.key])
    this.journaled++
  }

  /**
   * Forwards everything waiting, in order, in chunks; stops at the first chunk that did not land
   * whole (the link went down again) and leaves the rest for the next call.
   */
  async forward(write: StreamWriter): Promise<void> {
    if (this.running || !this.journal) return
    this.running = true
    try {
      const j = this.journal
      while (this.backlog) {
        // A chunk that did not land is kept and sent again: the generator does not go back.
        const chunk = this.held ?? take(this.backlog, CHUNK)
        this.held = undefined
        if (!chunk.length) {
          this.backlog = undefined
          break
        }
        if (!(await this.send(write, chunk))) {
          this.held = chunk
          return
        }
      }
      while (this.from <= j.lastSeq) {
        const through = Math.min(j.lastSeq, this.from + CHUNK - 1)
        await j.committed(through)
        const chunk = [...j.read(this.from, through)]
        if (!(await this.send(write, chunk))) return
        this.from = through + 1
      }
    } catch (err) {
      this.failed(new Error(`cluster outbox: ${errorMessage(err)}`))
    } finally {
      this.running = false
    }
  }

  private async send(write: StreamWriter, chunk: Array<{ seq: number; event: string; payload: unknown; meta: unknown }>): Promise<boolean> {
    const landed = await write(
      chunk.map((e) => {
        const [subscription, key] = e.meta as [string, string]
        const u8 = e.payload as Uint8Array
        return { event: e.event, subscription, key, body: Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength) }
      }),
    )
    // Only a whole chunk moves on: a partial one is sent again whole (at-least-once: the stream
    // may hold a few twice, which consumers count as duplicates like any redelivery).
    if (!landed.every(Boolean)) return false
    for (const e of chunk) this.journal!.ack(e.seq)
    this.forwarded += chunk.length
    return true
  }

  async close(): Promise<void> {
    this.backlog?.return(undefined)
    await this.journal?.close()
  }
}

function take<T>(g: Generator<T>, n: number): T[] {
  const out: T[] = []
  while (out.length < n) {
    const r = g.next()
    if (r.done) break
    out.push(r.value)
  }
  return out
}
