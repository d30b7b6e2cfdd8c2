import type { ServerResponse } from 'node:http'
import { debuglog } from 'node:util'
import type { Supervisor } from '../supervisor/types.js'

const debug = debuglog('outrigger')

export interface StatusEventsOptions {
  /** How often a snapshot goes out. Default 1000 ms. */
  intervalMs?: number
  /**
   * What may wait in one client's send buffer. A client that has not taken the snapshots already
   * sent by then is slow or gone, and is dropped rather than buffered for.
   */
  maxBufferedBytes?: number
}

/**
 * `GET /_events/status`: the status report as Server-Sent Events, one `status` event a second.
 *
 * One timer serves every client, and a snapshot is serialised once per tick whatever the number of
 * clients; the timer runs only while someone listens. Nothing is queued per client beyond what the
 * socket holds: before each write the client's unsent bytes are checked, and a client above
 * `maxBufferedBytes` is cut (its socket destroyed), so a reader that stalls costs at most that.
 */
export class StatusEvents {
  private readonly clients = new Set<ServerResponse>()
  private readonly intervalMs: number
  private readonly maxBufferedBytes: number
  private timer: NodeJS.Timeout | undefined
  private closed = false

  constructor(
    private readonly sup: Supervisor,
    opts: StatusEventsOptions = {},
  ) {
    this.intervalMs = opts.intervalMs ?? 1000
    this.maxBufferedBytes = opts.maxBufferedBytes ?? 1024 * 1024
  }

  /** How many streams are open. */
  get size(): number {
    return this.clients.size
  }

  /** Takes over a response that passed the auth slot: headers, a first snapshot at once, then one per tick. */
  add(res: ServerResponse): void {
    if (this.closed) {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' }).end('stopping\n')
      return
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      // Proxies (nginx) must pass each event through as it comes, not in buffered chunks.
      'x-accel-buffering': 'no',
    })
    // Tells an EventSource how long to wait before reconnecting; a fetch reader ignores it.
    res.write(`retry: ${Math.max(1000, this.intervalMs)}\n\n`)
    this.clients.add(res)
    const drop = (): void => {
      this.clients.delete(res)
      if (this.clients.size === 0) this.stopTimer()
    }
    // The response closes when the client goes away (or we end it); the request's own 'close'
    // may come as soon as its (empty) body has been read, so it says nothing about the client.
    res.once('close', drop)
    this.send(res, this.frame())
    this.startTimer()
  }

  /** Ends every stream and refuses new ones: the server is closing. */
  close(): void {
    this.closed = true
    this.stopTimer()
    for (const res of this.clients) res.end()
    this.clients.clear()
  }

  private startTimer(): void {
    if (this.timer !== undefined || this.clients.size === 0) return
    this.timer = setInterval(() => this.tick(), this.intervalMs)
    this.timer.unref()
  }

  private stopTimer(): void {
    if (this.timer === undefined) return
    clearInterval(this.timer)
    this.timer = undefined
  }

  private tick(): void {
    if (this.clients.size === 0) return this.stopTimer()
    const frame = this.frame()
    for (const res of this.clients) this.send(res, frame)
  }

  private send(res: ServerResponse, frame: string): void {
    if (res.destroyed || res.writableEnded) {
      this.clients.delete(res)
      return
    }
    if (res.writableLength > this.maxBufferedBytes) {
      debug('status stream: dropping a client with %d bytes unsent', res.writableLength)
      this.clients.delete(res)
      res.destroy()
      return
    }
    res.write(frame)
  }

  private frame(): string {
    return `event: status\ndata: ${JSON.stringify(this.sup.status())}\n\n`
  }
}
