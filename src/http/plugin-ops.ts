import type { IncomingMessage, ServerResponse } from 'node:http'
import { checkSelection } from '../delivery/dead-letters.js'
import type { Supervisor } from '../supervisor/types.js'
import { readJsonBody } from './body.js'
import { ACTION_HEADER } from './dashboard.js'
import { HttpError, sendEnvelope } from './envelope.js'
import type { PluginOperation } from './routes.js'

/**
 * An operator's operation on one plugin over HTTP (the CLI's `dead-letters list|replay|purge`, `restart` and `reload`):
 * auth slot (done by the caller) → permission slot → body → the supervisor. The permission slot
 * sees `{ plugin: '_plugins', controller: <plugin>, action: <op> }`, so a slot written for
 * controller actions refuses or allows operations by that reserved name, never by accident.
 */
export async function runPluginOperation(
  sup: Supervisor,
  req: IncomingMessage,
  res: ServerResponse,
  ctx: { requestId: string; plugin: string; op: PluginOperation; maxBodyBytes: number; user: unknown },
): Promise<void> {
  const { plugin, op, requestId } = ctx
  // Every operation that changes something needs a header only a script sets: a cross-site form
  // (which cannot set headers) never restarts, replays or purges.
  if (req.method === 'POST' && req.headers[ACTION_HEADER] === undefined) {
    throw new HttpError(403, 'RIG_ERR_HTTP_FORBIDDEN', `operator actions need the ${ACTION_HEADER} header (the dashboard sends it; it keeps cross-site forms out)`)
  }
  const allowed = await sup.services.permission(ctx.user, { plugin: '_plugins', controller: plugin, action: op })
  if (allowed !== true) throw new HttpError(403, 'RIG_ERR_HTTP_FORBIDDEN', `not allowed to run ${op} on plugin "${plugin}"`)
  let result: unknown
  switch (op) {
    case 'dead-letters':
      result = await sup.listDeadLetters(plugin)
      break
    case 'dead-letters/replay':
      result = await sup.replayDeadLetters(plugin, checkSelection(await readJsonBody(req, ctx.maxBodyBytes), 'replay'))
      break
    case 'dead-letters/purge':
      result = await sup.purgeDeadLetters(plugin, checkSelection(await readJsonBody(req, ctx.maxBodyBytes), 'purge'))
      break
    case 'restart':
      await sup.restartPlugin(plugin)
      result = { plugin, restarted: true }
      break
    case 'reload':
      result = await sup.reload(plugin)
      break
  }
  sendEnvelope(res, { requestId, status: 200, error: null, controller: operationController(plugin), action: op, result })
}

/** The envelope's `controller` for an operation: `_plugins/<plugin>`. */
export function operationController(plugin: string): string {
  return `_plugins/${plugin}`
}
