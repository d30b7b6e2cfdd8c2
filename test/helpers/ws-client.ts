import { WebSocket } from 'ws'
import { until } from './wait.js'

/** A real `ws` client that keeps every frame it got, and how its connection closed. */
export class WsClient {
  readonly frames: any[] = []
  bytes = 0
  closed: { code: number; reason: string } | undefined
  private seq = 0

  private constructor(
    readonly ws: WebSocket,
    /** The headers of the server's 101 answer to the upgrade. */
    readonly upgrade: Record<string, string | string[] | undefined>,
  ) {
    ws.on('message', (data, isBinary) => {
      this.bytes += (data as Buffer).length
      this.frames.push(isBinary ? data : JSON.parse(String(data)))
    })
    ws.on('close', (code, reason) => (this.closed = { code, reason: String(reason) }))
    ws.on('error', () => {})
  }

  /** `protocols` are offered as a browser's `new WebSocket(url, protocols)` offers them. */
  static open(url: string, headers: Record<string, string> = {}, protocols?: string[]): Promise<WsClient> {
    const ws = new WebSocket(url, protocols ?? [], { headers, perMessageDeflate: false })
    let upgrade: Record<string, string | string[] | undefined> = {}
    ws.once('upgrade', (res) => (upgrade = res.headers))
    return new Promise((resolve, reject) => {
      // The listeners go on inside 'open', so frames the server sends at once (a refusal, then
      // its close) are not missed.
      ws.once('open', () => resolve(new WsClient(ws, upgrade)))
      ws.once('error', reject)
    })
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame))
  }

  /** Sends a frame with a fresh requestId and waits for the frame that answers it. */
  async request(frame: Record<string, unknown>, deadlineMs = 10_000): Promise<any> {
    const requestId = (frame.requestId as string | undefined) ?? `r${++this.seq}`
    this.send({ ...frame, requestId })
    return this.next(`the answer to ${requestId}`, (f) => f.requestId === requestId, deadlineMs)
  }

  next(what: string, match: (frame: any) => boolean, deadlineMs = 10_000): Promise<any> {
    return until(what, () => this.frames.find(match), deadlineMs)
  }

  whenClosed(deadlineMs = 10_000): Promise<{ code: number; reason: string }> {
    return until('the connection to close', () => this.closed, deadlineMs)
  }

  close(): void {
    this.ws.terminate()
  }
}
