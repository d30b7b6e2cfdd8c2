/**
 * XACKs, batched per stream at the end of the tick. An ack that cannot be sent (the link is down)
 * is kept and sent again once the link is back: XACK is idempotent, and until it lands the entry
 * stays pending on this node (nobody else takes it while this node beats).
 */
import type { RedisLink } from './connection.js'
import { GROUP } from './keys.js'

export class Acks {
  private readonly waiting = new Map<string, string[]>()
  private queued = false
  private sending: Promise<void> = Promise.resolve()
  acked = 0

  constructor(private readonly link: RedisLink) {}

  add(stream: string, id: string): void {
    let ids = this.waiting.get(stream)
    if (!ids) this.waiting.set(stream, (ids = []))
    ids.push(id)
    if (this.queued) return
    this.queued = true
    queueMicrotask(() => {
      this.queued = false
      void this.flush()
    })
  }

  /** The ids of `stream` whose ack waits here (settled, but still pending in Redis). */
  waitingIds(stream: string): string[] {
    return this.waiting.get(stream) ?? []
  }

  get depth(): number {
    let n = 0
    for (const ids of this.waiting.values()) n += ids.length
    return n
  }

  /** Sends what waits; what fails goes back to wait for the next flush. */
  flush(): Promise<void> {
    if (!this.waiting.size || !this.link.up) return this.sending
    const batch = [...this.waiting]
    this.waiting.clear()
    const pipe = this.link.client.pipeline()
    for (const [stream, ids] of batch) pipe.xack(stream, GROUP, ...ids)
    this.sending = pipe.exec().then(
      (res) => {
        batch.forEach(([stream, ids], i) => {
          if (res?.[i]?.[0]) this.putBack(stream, ids)
          else this.acked += ids.length
        })
      },
      () => batch.forEach(([stream, ids]) => this.putBack(stream, ids)),
    )
    return this.sending
  }

  private putBack(stream: string, ids: string[]): void {
    const now = this.waiting.get(stream)
    this.waiting.set(stream, now ? [...ids, ...now] : ids)
  }
}
