/**
 * pm2 actions: `pm2 trigger <app> status` replies the status report, `pm2 trigger <app>
 * restart-plugin <name>` restarts a worker plugin and replies how it went. A reply is always sent,
 * errors included, because `pm2 trigger` waits for one.
 */
import { errorMessage, isOutriggerError } from '../errors.js'
import type { Supervisor } from '../supervisor/types.js'
import type { ActionReply, Pm2Io } from './io.js'

export function registerActions(io: Pm2Io, sup: Supervisor): void {
  io.action('status', (reply: ActionReply) => reply(sup.status()))
  // Two parameters: @pm2/io passes the trigger's parameter only to handlers of arity 2.
  io.action('restart-plugin', (param: unknown, reply: ActionReply) => {
    const plugin = typeof param === 'string' ? param.trim() : ''
    if (!plugin) return reply({ ok: false, error: { code: null, message: 'usage: pm2 trigger <app> restart-plugin <plugin>' } })
    sup.restartPlugin(plugin).then(
      () => reply({ ok: true, plugin, state: sup.status().plugins.find((p) => p.name === plugin)?.state ?? null }),
      (err: unknown) => reply({ ok: false, plugin, error: { code: isOutriggerError(err) ? err.code : null, message: errorMessage(err) } }),
    )
  })
}
