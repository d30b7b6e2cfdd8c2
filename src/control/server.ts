/**
 * The control server: the supervisor's end of the CLI's channel, a node-ipc 12.0.0 server on a
 * unix socket at `<runtimeDir>/<app>.sock` (mode 0600, in a 0700 folder).
 */
import { chmodSync, lstatSync, unlinkSync } from 'node:fs'
import net, { type Socket } from 'node:net'
import { debuglog } from 'node:util'
import { IPCModule } from 'node-ipc'
import { OutriggerError } from '../errors.js'
import type { Supervisor } from '../supervisor/types.js'
import { CONTROL_IDLE_MS, ControlConnections, MAX_CONTROL_CONNECTIONS } from './connections.js'
import { dispatch, replyError } from './dispatch.js'
import { guardSocket } from './frame-guard.js'
import { MAX_REQUEST_CHARS, REPLY_TYPE, REQUEST_TYPE, parseRequest, type ControlReply } from './protocol.js'
import { ensureRuntimeDir, refuseForeignOwner, resolveRuntimeDir, socketPath } from './socket-path.js'

const debug = debuglog('outrigger')

export interface ControlServerOptions {
  app: string
  /** Default: resolved from the environment (DESIGN §5). */
  runtimeDir?: string
  /** Largest request accepted, in characters. */
  maxRequestChars?: number
  /** Connections kept at once; over it, the one idle the longest is closed. Default 64. */
  maxConnections?: number
  /** A connection that sends no complete frame for this long (and awaits no answer) is closed. Default 5000. */
  idleTimeoutMs?: number
}

export interface ControlServer {
  /** The socket file the server listens on. */
  readonly path: string
  /** Stops listening, drops open connections and removes the socket file. Idempotent. */
  close(): Promise<void>
}

/** Starts the control server of `sup`; it closes when the supervisor stops (or on `close()`). */
export async function startControlServer(sup: Supervisor, opts: ControlServerOptions): Promise<ControlServer> {
  const dir = opts.runtimeDir ?? resolveRuntimeDir()
  const file = socketPath(opts.app, dir)
  ensureRuntimeDir(dir)
  await claimSocketPath(file, opts.app)

  const ipc = new IPCModule()
  ipc.config.silent = true
  // node-ipc would unlink whatever is at the path before listening, stealing a live supervisor's
  // socket; claimSocketPath has already removed it if (and only if) it was stale.
  ipc.config.unlink = false
  const connections = new ControlConnections({ max: opts.maxConnections ?? MAX_CONTROL_CONNECTIONS, idleMs: opts.idleTimeoutMs ?? CONTROL_IDLE_MS })
  // net.Server would refuse the newest connection at the limit; `connections` closes the oldest
  // idle one instead, so the listener's own limit is only a ceiling on sockets open in a burst.
  ipc.config.maxConnections = 1024
  ipc.config.id = opts.app
  ipc.serve(file)
  const server = ipc.server
  if (!server) throw new Error('node-ipc did not create a server')

  const send = (socket: Socket, reply: ControlReply): void => {
    if (socket.destroyed || !socket.writable) return
    try {
      server.emit(socket, REPLY_TYPE, reply)
    } catch (err) {
      debug('control: cannot reply: %o', err)
    }
  }

  server.on('connect', (socket: unknown) => {
    if (!(socket instanceof net.Socket)) return
    connections.add(socket)
    guardSocket(socket, {
      maxChars: opts.maxRequestChars ?? MAX_REQUEST_CHARS,
      reject: (s, message) => send(s, { id: null, ok: false, error: { code: 'RIG_ERR_CONTROL_REQUEST', message } }),
      onFrame: (s) => connections.frame(s),
    })
  })

  server.on(REQUEST_TYPE, (data: unknown, socket: Socket) => {
    const parsed = parseRequest(data)
    if (!parsed.ok) {
      send(socket, { id: parsed.id, ok: false, error: { code: 'RIG_ERR_CONTROL_REQUEST', message: parsed.message } })
      return
    }
    const { id } = parsed.request
    connections.busy(socket)
    dispatch(sup, parsed.request)
      .then(
        (result) => send(socket, { id, ok: true, result: result ?? null }),
        (err: unknown) => send(socket, { id, ok: false, error: replyError(err) }),
      )
      .finally(() => connections.answered(socket))
  })

  await new Promise<void>((resolve, reject) => {
    let started = false
    server.on('start', () => {
      started = true
      resolve()
    })
    // node-ipc publishes listen errors and per-connection errors (EPIPE, ECONNRESET) alike.
    server.on('error', (err: unknown) => {
      if (started) {
        debug('control: connection error: %o', err)
        return
      }
      const code = (err as NodeJS.ErrnoException | undefined)?.code
      reject(
        code === 'EADDRINUSE'
          ? inUse(file, opts.app)
          : new OutriggerError('RIG_ERR_CONTROL_IN_USE', `cannot listen on control socket ${file}: ${(err as Error)?.message ?? String(err)}`, { cause: err }),
      )
    })
    server.start()
  })

  chmodSync(file, 0o600)
  const ino = lstatSync(file).ino
  debug('control: listening on %s', file)

  let closing: Promise<void> | undefined
  const control: ControlServer = {
    path: file,
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        connections.close()
        for (const s of server.sockets) s.destroy()
        const listener = server.server
        if (!listener) return resolve()
        listener.close(() => {
          // Only remove the file if it is still the one we created (a successor may own the path).
          try {
            if (lstatSync(file).ino === ino) unlinkSync(file)
          } catch {
            /* already gone */
          }
          resolve()
        })
      })
      return closing
    },
  }
  sup.onClose(() => control.close())
  return control
}

function inUse(file: string, app: string): OutriggerError {
  return new OutriggerError(
    'RIG_ERR_CONTROL_IN_USE',
    `a live supervisor for app "${app}" already answers on control socket ${file}; stop it first or start this one with another --app`,
    { details: { file, app } },
  )
}

/**
 * A socket file left by a supervisor that died refuses connections (ECONNREFUSED): it is removed.
 * One that accepts a connection belongs to a live supervisor: starting a second one is refused.
 */
async function claimSocketPath(file: string, app: string): Promise<void> {
  let st
  try {
    st = lstatSync(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw err
  }
  if (!st.isSocket()) {
    throw new OutriggerError('RIG_ERR_CONTROL_IN_USE', `${file} exists and is not a socket; remove it or start with another --app`)
  }
  refuseForeignOwner(file, st.uid, 'RIG_ERR_CONTROL_IN_USE')
  const state = await probe(file)
  if (state === 'alive') throw inUse(file, app)
  if (state === 'stale') {
    debug('control: removing stale socket %s', file)
    try {
      unlinkSync(file)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
  }
}

function probe(file: string): Promise<'alive' | 'stale' | 'gone'> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ path: file })
    // A listener that accepts but is too busy to finish the handshake is still somebody's.
    const timer = setTimeout(() => done('alive'), 2000)
    const done = (v: 'alive' | 'stale' | 'gone' | Error): void => {
      clearTimeout(timer)
      sock.destroy()
      if (v instanceof Error) reject(v)
      else resolve(v)
    }
    sock.once('connect', () => done('alive'))
    sock.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') done('stale')
      else if (err.code === 'ENOENT') done('gone')
      else if (err.code === 'EAGAIN') done('alive')
      else done(new OutriggerError('RIG_ERR_CONTROL_IN_USE', `cannot check control socket ${file}: ${err.message}`, { cause: err }))
    })
  })
}
