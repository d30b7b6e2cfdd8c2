/**
 * The CLI's end of the control channel: a node-ipc 12.0.0 client on the supervisor's socket.
 * `request()` is one connection per call (what a one-shot command wants); `ControlClient` keeps
 * one open for `top`.
 */
import { lstatSync } from 'node:fs'
import { IPCModule } from 'node-ipc'
import { OutriggerError, deserializeError } from '../errors.js'
import { ControlReply, REPLY_TYPE, REQUEST_TYPE, type ArgsOf, type ControlCommand } from './protocol.js'
import { refuseForeignOwner, resolveRuntimeDir, socketPath } from './socket-path.js'

export interface ControlTarget {
  /** Default `outrigger`. */
  app?: string
  /** Default: resolved from the environment, as the supervisor does. */
  runtimeDir?: string
}

export const DEFAULT_TIMEOUT_MS = 5000

interface Pending {
  resolve(v: unknown): void
  reject(e: Error): void
  timer: NodeJS.Timeout
}

export class ControlClient {
  readonly path: string
  private readonly ipc = new IPCModule()
  private readonly pending = new Map<number, Pending>()
  private nextId = 1
  private closed = false

  private constructor(path: string) {
    this.path = path
  }

  /** Connects, or rejects with RIG_ERR_CONTROL_UNREACHABLE naming the socket it tried. */
  static async connect(target: ControlTarget = {}, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<ControlClient> {
    const app = target.app ?? 'outrigger'
    const file = socketPath(app, target.runtimeDir ?? resolveRuntimeDir())
    let st
    try {
      st = lstatSync(file)
    } catch {
      throw unreachable(file, app, 'no control socket there')
    }
    if (!st.isSocket()) throw unreachable(file, app, 'the file there is not a socket')
    refuseForeignOwner(file, st.uid, 'RIG_ERR_CONTROL_UNREACHABLE')
    const client = new ControlClient(file)
    await client.open(app, timeoutMs)
    return client
  }

  private open(app: string, timeoutMs: number): Promise<void> {
    const { ipc } = this
    ipc.config.silent = true
    // A one-shot CLI must fail fast, not retry every 500 ms forever (node-ipc's default).
    ipc.config.stopRetrying = true
    ipc.config.maxRetries = 0
    return new Promise<void>((resolve, reject) => {
      let connected = false
      const timer = setTimeout(() => {
        this.close()
        reject(unreachable(this.path, app, `no connection within ${timeoutMs} ms`))
      }, timeoutMs)
      ipc.connectTo('supervisor', this.path)
      const conn = ipc.of.supervisor
      conn.on('connect', () => {
        connected = true
        clearTimeout(timer)
        resolve()
      })
      // node-ipc publishes socket errors and unparsable frames under the same `error` event.
      conn.on('error', (err: unknown) => {
        if (!(err instanceof Error) || connected) return
        clearTimeout(timer)
        const code = (err as NodeJS.ErrnoException).code
        reject(unreachable(this.path, app, code === 'ECONNREFUSED' ? 'the socket is stale (its supervisor has exited)' : err.message))
      })
      conn.on('disconnect', () => {
        this.closed = true
        this.failAll(unreachable(this.path, app, 'the supervisor closed the connection'))
      })
      conn.on(REPLY_TYPE, (data: unknown) => this.onReply(data))
    })
  }

  /** False once closed, by us or by the supervisor (which closes connections left idle). */
  get isOpen(): boolean {
    return !this.closed
  }

  /** Sends one command; resolves with its result or rejects with the supervisor's error. */
  request<C extends ControlCommand>(cmd: C, args: ArgsOf<C>, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<unknown> {
    if (this.closed) return Promise.reject(new OutriggerError('RIG_ERR_CONTROL_UNREACHABLE', `control connection to ${this.path} is closed`))
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new OutriggerError('RIG_ERR_CONTROL_UNREACHABLE', `the supervisor on ${this.path} did not answer "${cmd}" within ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(id, { resolve, reject, timer })
      this.ipc.of.supervisor.emit(REQUEST_TYPE, { id, cmd, args })
    })
  }

  close(): void {
    this.closed = true
    this.ipc.disconnect('supervisor')
    this.failAll(new OutriggerError('RIG_ERR_CONTROL_UNREACHABLE', `control connection to ${this.path} closed`))
  }

  private onReply(data: unknown): void {
    const parsed = ControlReply.safeParse(data)
    if (!parsed.success) return
    const reply = parsed.data
    // A reply without an id answers a frame the server could not read: the oldest request's.
    const id = typeof reply.id === 'number' ? reply.id : this.pending.keys().next().value
    const p = id === undefined ? undefined : this.pending.get(id)
    if (!p || id === undefined) return
    this.pending.delete(id)
    clearTimeout(p.timer)
    if (reply.ok) p.resolve(reply.result)
    else p.reject(deserializeError({ name: 'OutriggerError', code: reply.error.code ?? undefined, message: reply.error.message }))
  }

  private failAll(err: Error): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer)
      this.pending.delete(id)
      p.reject(err)
    }
  }
}

/** One command over a fresh connection, closed afterwards. */
export async function request<C extends ControlCommand>(target: ControlTarget, cmd: C, args: ArgsOf<C>, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<unknown> {
  const client = await ControlClient.connect(target, timeoutMs)
  try {
    return await client.request(cmd, args, timeoutMs)
  } finally {
    client.close()
  }
}

function unreachable(file: string, app: string, why: string): OutriggerError {
  return new OutriggerError(
    'RIG_ERR_CONTROL_UNREACHABLE',
    `cannot reach supervisor "${app}" on control socket ${file}: ${why}. Is \`outrigger start --app ${app}\` running with the same OUTRIGGER_RUNTIME_DIR?`,
    { details: { file, app } },
  )
}
