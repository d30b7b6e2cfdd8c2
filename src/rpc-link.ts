import * as Comlink from 'comlink'
import { deserializeError, OutriggerError, serializeError } from './errors.js'
import type { RpcChannel, RpcMsg, RpcReply } from './worker-protocol.js'

type Listener = (ev: { data: unknown }) => void
type Invoker = { invoke(method: string, args: unknown[]): Promise<RpcReply> }
/** Calls `method` on the other side; rejects on the other side's error, on timeout, or on exit. */
export type RemoteCall = (method: string, args: unknown[], timeoutMs?: number) => Promise<unknown>

/**
 * comlink over any message transport (a MessagePort or a child's IPC channel), with what comlink
 * lacks: a timeout on every call, and a way to reject every pending call at once when the other
 * side dies (comlink would leave them pending forever).
 *
 * Each channel is used in one direction only (one side exposes, the other wraps), so comlink's
 * request and reply messages never reach a listener of the wrong kind.
 *
 * Both sides of the boundary load this file: like `worker-protocol.ts` and `errors.ts` it depends on
 * nothing host-side, so the worker runtime can share it instead of keeping a copy.
 */
export class RpcLink {
  private readonly listeners = new Map<RpcChannel, Set<Listener>>()
  private readonly pending = new Set<(err: Error) => void>()
  private failure: Error | undefined

  constructor(
    private readonly send: (msg: RpcMsg) => void,
    private readonly defaultTimeoutMs: number,
  ) {}

  /** Feeds an incoming `rpc` message to comlink. */
  deliver(msg: RpcMsg): void {
    const set = this.listeners.get(msg.ch)
    if (set) for (const l of set) l({ data: msg.data })
  }

  /** Serves `target`'s methods on `ch`; errors travel as data so they keep code and cause. */
  expose(ch: RpcChannel, target: Record<string, (...args: any[]) => unknown>): void {
    const invoker: Invoker = {
      async invoke(method, args) {
        try {
          // Own methods only: a name from the other side must not reach what every object inherits.
          const fn = Object.hasOwn(target, method) ? target[method] : undefined
          if (typeof fn !== 'function') throw new Error(`no rpc method "${method}"`)
          return { ok: true, value: await fn.apply(target, args) }
        } catch (err) {
          return { ok: false, error: serializeError(err) }
        }
      },
    }
    Comlink.expose(invoker, this.endpoint(ch))
  }

  remote(ch: RpcChannel): RemoteCall {
    const proxy = Comlink.wrap<Invoker>(this.endpoint(ch))
    return (method, args, timeoutMs = this.defaultTimeoutMs) =>
      new Promise((resolve, reject) => {
        if (this.failure) return reject(this.failure)
        let timer: NodeJS.Timeout | undefined
        const fail = (err: Error): void => {
          clearTimeout(timer)
          if (this.pending.delete(fail)) reject(err)
        }
        this.pending.add(fail)
        if (timeoutMs > 0) {
          timer = setTimeout(
            () => fail(new OutriggerError('RIG_ERR_CALL_TIMEOUT', `${ch} call "${method}" did not answer within ${timeoutMs} ms`)),
            timeoutMs,
          )
        }
        proxy.invoke(method, args).then((reply) => {
          if (!this.pending.delete(fail)) return
          clearTimeout(timer)
          if (reply.ok) resolve(reply.value)
          else reject(deserializeError(reply.error))
        }, fail)
      })
  }

  /** Rejects every pending call with `err`, and every later one too. */
  failAll(err: Error): void {
    this.failure = err
    for (const fail of [...this.pending]) fail(err)
  }

  private endpoint(ch: RpcChannel): Comlink.Endpoint {
    let set = this.listeners.get(ch)
    if (!set) this.listeners.set(ch, (set = new Set()))
    const listeners = set
    return {
      postMessage: (data: unknown) => this.send({ code: 'rpc', ch, data }),
      addEventListener: (_type: string, l: any) => void listeners.add(typeof l === 'function' ? l : (ev) => l.handleEvent(ev)),
      removeEventListener: (_type: string, l: any) => void listeners.delete(l),
    }
  }
}
