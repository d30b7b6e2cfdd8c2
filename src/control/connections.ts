/**
 * Keeps the control socket from being locked out by clients that connect and say nothing.
 *
 * net.Server's own `maxConnections` refuses the newest connection once the limit is reached, so
 * 64 idle clients used to make every CLI call "unreachable" for as long as they stayed. Here a
 * connection is closed when it has not sent a complete frame for `idleMs` while no request of its
 * is being answered (bytes without a delimiter do not count: a client cannot drip its way past
 * the timer), and a new connection over the limit makes room by closing the connection that has
 * been idle the longest. Only when every connection is waiting for an answer is the newcomer
 * refused.
 */
import type { Socket } from 'node:net'
import { debuglog } from 'node:util'

const debug = debuglog('outrigger')

/** Connections the control server keeps open at once. */
export const MAX_CONTROL_CONNECTIONS = 64
/** How long a connection may stay without sending a complete frame. */
export const CONTROL_IDLE_MS = 5000

interface Entry {
  /** Requests read from it and not answered yet. */
  inFlight: number
  /**
   * When it last sent a complete frame or got its last answer (when it connected, at first), as a
   * tick of this table's own counter: a clock in milliseconds would tie for a client that talks
   * within the same millisecond as others connect, and drop the talker.
   */
  activeAt: number
  timer?: NodeJS.Timeout
}

export class ControlConnections {
  private readonly entries = new Map<Socket, Entry>()
  private tick = 0

  constructor(private readonly opts: { max: number; idleMs: number }) {}

  get size(): number {
    return this.entries.size
  }

  /** A new connection: tracked, and room made for it if the limit is reached. */
  add(socket: Socket): void {
    const entry: Entry = { inFlight: 0, activeAt: ++this.tick }
    this.entries.set(socket, entry)
    socket.once('close', () => this.remove(socket))
    this.arm(socket, entry)
    if (this.entries.size > this.opts.max) this.makeRoom(socket)
  }

  /** A complete frame arrived on it: the idle clock starts again. */
  frame(socket: Socket): void {
    const entry = this.entries.get(socket)
    if (!entry) return
    entry.activeAt = ++this.tick
    this.arm(socket, entry)
  }

  /** A request of it is being answered: it is not idle until the answer has gone. */
  busy(socket: Socket): void {
    const entry = this.entries.get(socket)
    if (!entry) return
    entry.inFlight++
    clearTimeout(entry.timer)
  }

  /** The answer to one of its requests has been sent. */
  answered(socket: Socket): void {
    const entry = this.entries.get(socket)
    if (!entry) return
    entry.inFlight = Math.max(0, entry.inFlight - 1)
    entry.activeAt = ++this.tick
    this.arm(socket, entry)
  }

  close(): void {
    for (const [socket, entry] of this.entries) {
      clearTimeout(entry.timer)
      socket.destroy()
    }
    this.entries.clear()
  }

  private remove(socket: Socket): void {
    clearTimeout(this.entries.get(socket)?.timer)
    this.entries.delete(socket)
  }

  private arm(socket: Socket, entry: Entry): void {
    clearTimeout(entry.timer)
    if (entry.inFlight > 0) return
    entry.timer = setTimeout(() => {
      debug('control: closing a connection idle for %d ms', this.opts.idleMs)
      this.drop(socket)
    }, this.opts.idleMs)
    entry.timer.unref()
  }

  private makeRoom(newcomer: Socket): void {
    let oldest: Socket | undefined
    let oldestAt = Infinity
    for (const [socket, entry] of this.entries) {
      if (socket === newcomer || entry.inFlight > 0) continue
      if (entry.activeAt < oldestAt) {
        oldest = socket
        oldestAt = entry.activeAt
      }
    }
    debug('control: %d connections, the limit is %d: closing %s', this.entries.size, this.opts.max, oldest ? 'the one idle the longest' : 'the new one (every other is busy)')
    this.drop(oldest ?? newcomer)
  }

  private drop(socket: Socket): void {
    this.remove(socket)
    socket.destroy()
  }
}
