import type { IncomingMessage, ServerResponse } from 'node:http'
import type { ActionRequest } from '../plugin/types.js'
import type { ActionTarget, Supervisor } from '../supervisor/types.js'
import { readJsonBody } from './body.js'
import { HttpError, sendEnvelope } from './envelope.js'

/**
 * A controller action's life: auth slot → permission slot → body → `sup.runAction` (which runs the
 * `before` pipe, the action and the `after` event). The body is read only once the caller is
 * known and allowed, so a refused client cannot make the host read (or buffer) anything.
 */
export async function runAction(
  sup: Supervisor,
  req: IncomingMessage,
  res: ServerResponse,
  ctx: { requestId: string; target: ActionTarget; query: Record<string, string>; maxBodyBytes: number; user: unknown },
): Promise<void> {
  const { target, requestId } = ctx
  const allowed = await sup.services.permission(ctx.user, target)
  if (allowed !== true) {
    throw new HttpError(403, 'RIG_ERR_HTTP_FORBIDDEN', `not allowed to run ${target.plugin}/${target.controller}/${target.action}`)
  }
  const body = req.method === 'POST' ? await readJsonBody(req, ctx.maxBodyBytes) : null
  const request: ActionRequest = {
    requestId,
    controller: target.controller,
    action: target.action,
    body,
    query: ctx.query,
    headers: req.headers,
    user: ctx.user,
  }
  const result = await sup.runAction(target, request)
  sendEnvelope(res, { requestId, status: 200, error: null, controller: target.controller, action: target.action, result: result ?? null })
}

/**
 * Runs the auth slot. A refusal is expected to carry `status: 401`; any other 4xx it carries is
 * kept, and a throw with no status is a broken slot (500), not a refused client.
 */
export async function authenticate(sup: Supervisor, req: IncomingMessage): Promise<unknown> {
  return sup.services.auth({ headers: req.headers, remoteAddress: req.socket.remoteAddress })
}
