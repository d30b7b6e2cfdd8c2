/**
 * A guard in front of node-ipc 12.0.0's socket parser, which cannot face hostile bytes alone:
 *
 * - it buffers everything up to a delimiter with no limit, so a client that never sends `\f`
 *   grows the supervisor's heap without bound;
 * - it publishes each frame under the frame's own `type`, and event-pubsub throws a TypeError
 *   from inside the socket's `data` handler when that type is not a string (`[]`, `{"type":1}`,
 *   plain JSON numbers): an uncaught exception that takes the whole supervisor down;
 * - a frame may name node-ipc's internal events (`start`, `close`, `connect`, `error`) and so
 *   re-run the server's own callbacks with attacker-chosen data.
 *
 * So each accepted socket has node-ipc's `data` listener taken off and called by this guard, and
 * only with one complete frame that parses as JSON and is a `rig.request` message. Everything
 * else is answered with a RIG_ERR_CONTROL_REQUEST reply and the connection goes on. An oversized
 * frame is dropped while it streams in (nothing of it is kept) up to its delimiter.
 */
import { Socket } from 'node:net'
import { debuglog } from 'node:util'
import { FRAME_DELIMITER, REQUEST_TYPE } from './protocol.js'

const debug = debuglog('outrigger')

export interface GuardOptions {
  maxChars: number
  /** Sends an error reply on this socket (the id is unknown: the frame could not be read). */
  reject(socket: Socket, message: string): void
  /** Called for every complete frame (one that reached its delimiter), good or bad. */
  onFrame?(socket: Socket): void
}

export function guardSocket(socket: unknown, opts: GuardOptions): void {
  // node-ipc publishes `connect` with the accepted socket; anything else is not ours to guard.
  if (!(socket instanceof Socket)) return
  // node-ipc 12.0.0 adds its parser before publishing `connect` and sets the encoding to utf8,
  // so here the listeners are exactly its parser and chunks arrive as strings.
  const parsers = socket.listeners('data') as Array<(chunk: string) => void>
  socket.removeAllListeners('data')
  let buffered = ''
  let skipping = false

  const forward = (frame: string): void => {
    if (frame.trim() === '') return
    let msg: unknown
    try {
      msg = JSON.parse(frame)
    } catch {
      opts.reject(socket, 'malformed request: a frame is not JSON; send {"type":"rig.request","data":{"id","cmd","args"}} followed by \\f')
      return
    }
    if (!msg || typeof msg !== 'object' || (msg as { type?: unknown }).type !== REQUEST_TYPE) {
      opts.reject(socket, `malformed request: expected a node-ipc message of type "${REQUEST_TYPE}"`)
      return
    }
    for (const parse of parsers) {
      try {
        parse.call(socket, frame + FRAME_DELIMITER)
      } catch (err) {
        // Defence in depth: a throw here would otherwise escape as an uncaught exception.
        debug('control: node-ipc parser threw: %o', err)
        opts.reject(socket, 'malformed request: the frame could not be parsed')
      }
    }
  }

  socket.on('data', (chunk: string | Buffer) => {
    let data = typeof chunk === 'string' ? chunk : chunk.toString('utf8')
    for (;;) {
      const at = data.indexOf(FRAME_DELIMITER)
      if (at === -1) break
      const head = data.slice(0, at)
      data = data.slice(at + 1)
      opts.onFrame?.(socket)
      if (skipping) {
        skipping = false
        buffered = ''
        continue
      }
      const frame = buffered + head
      buffered = ''
      if (frame.length > opts.maxChars) {
        opts.reject(socket, `request too large: more than ${opts.maxChars} characters`)
        continue
      }
      forward(frame)
    }
    if (skipping) return
    buffered += data
    if (buffered.length > opts.maxChars) {
      buffered = ''
      skipping = true
      opts.reject(socket, `request too large: more than ${opts.maxChars} characters; the rest of it is discarded`)
    }
  })
}
