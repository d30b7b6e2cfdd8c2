import type { IncomingMessage, ServerResponse } from 'node:http'
import { Refusal } from '../protocol/envelope.js'
import type { ActionTarget, Supervisor } from '../supervisor/types.js'
import { readJsonBody } from './body.js'
import { sendEnvelope } from './envelope.js'

/**
 * A controller action over HTTP: the request path is `sup.execute` (src/protocol/execute.ts), the
 * same one `ctx.execute` and protocol plugins take. HTTP only adds how it reads the body: once
 * the caller is known and allowed, so a refused client cannot make the host read anything.
 */
export async function runAction(
  sup: Supervisor,
  req: IncomingMessage,
  res: ServerResponse,
  ctx: { requestId: string; target: ActionTarget; query: Record<string, string>; maxBodyBytes: number },
): Promise<void> {
  const { target } = ctx
  let headers: Record<string, string> = {}
  const readBody = (): Promise<unknown> =>
    req.method !== 'POST'
      ? Promise.resolve(null)
      : readJsonBody(req, ctx.maxBodyBytes).catch((err: unknown) => {
          // A body refused half-read (413) must close the connection: keep what the refusal asks.
          if (err instanceof Refusal) headers = err.headers
          throw err
        })
  const env = await sup.execute(
    {
      requestId: ctx.requestId,
      controller: `${target.plugin}/${target.controller}`,
      action: target.action,
      query: ctx.query,
      credentials: { headers: req.headers, remoteAddress: req.socket.remoteAddress },
    },
    { readBody },
  )
  if (env.status === 401) headers = { ...headers, 'www-authenticate': 'Bearer' }
  if (headers.connection === 'close') res.shouldKeepAlive = false
  sendEnvelope(res, env, headers)
}

/**
 * Runs the auth slot. A refusal is expected to carry `status: 401`; any other 4xx it carries is
 * kept, and a throw with no status is a broken slot (500), not a refused client.
 */
export async function authenticate(sup: Supervisor, req: IncomingMessage): Promise<unknown> {
  return sup.services.auth({ headers: req.headers, remoteAddress: req.socket.remoteAddress })
}
