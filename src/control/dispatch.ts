/** Runs one validated control request against the supervisor. */
import { OutriggerError, errorCode } from '../errors.js'
import type { Supervisor } from '../supervisor/types.js'
import { readPage } from '../coordination/read.js'
import { clusterHealth } from './cluster-health.js'
import type { ArgsOf, ControlCommand, ControlRequest } from './protocol.js'

type Handler<C extends ControlCommand> = (sup: Supervisor, args: ArgsOf<C>) => unknown
const handlers: { [C in ControlCommand]: Handler<C> } = {
  status: (sup, { cluster }) => (cluster ? sup.clusterStatus() : sup.status()),
  health: async (sup, { cluster }) => {
    if (cluster) return clusterHealth(await sup.clusterStatus())
    const s = sup.status()
    return { health: s.health, plugins: s.plugins.map((p) => ({ name: p.name, state: p.state })) }
  },
  restart: async (sup, { plugin }) => {
    await sup.restartPlugin(plugin)
    return { plugin, restarted: true }
  },
  reload: (sup, { plugin }) => sup.reload(plugin),
  'plugins.start': async (sup, { name }) => {
    await sup.startPlugin(name)
    return { name, started: true }
  },
  'plugins.stop': async (sup, { name }) => {
    await sup.stopPlugin(name)
    return { name, stopped: true }
  },
  'plugins.list': (sup) => sup.status().plugins,
  'plugins.describe': (sup, { name }) => {
    const found = sup.status().plugins.find((p) => p.name === name)
    if (!found) {
      throw new OutriggerError('RIG_ERR_UNKNOWN_PLUGIN', `no plugin "${name}" is loaded in "${sup.app}"; \`outrigger plugins list\` shows the loaded ones`)
    }
    // Where it was loaded from, so an operator sees a plugin that comes from outside the plugins folders.
    return { ...found, folder: sup.pluginFolder(name) ?? null }
  },
  emit: (sup, { event, payload }) => {
    sup.emit(event, payload)
    return { event, emitted: true }
  },
  call: async (sup, { target, args }) => ({ target, result: await sup.call(target, args) }),
  'dead-letters.list': (sup, { plugin }) => sup.listDeadLetters(plugin),
  profile: (sup, { plugin, ...opts }) => sup.profile(plugin, opts),
  'dead-letters.replay': (sup, { plugin, ...sel }) => sup.replayDeadLetters(plugin, sel),
  'dead-letters.purge': (sup, { plugin, ...sel }) => sup.purgeDeadLetters(plugin, sel),
  'log.read': (sup, args) => readPage(sup.coordination.log, args),
  'log.replica': (sup, { plugin }) => sup.coordination.replica(plugin),
}

export async function dispatch(sup: Supervisor, req: ControlRequest): Promise<unknown> {
  const handler = handlers[req.cmd] as Handler<ControlCommand>
  return await handler(sup, req.args)
}

/** The reply's error: the error's own `RIG_ERR_*` code when it has one. */
export function replyError(err: unknown): { code: string | null; message: string } {
  if (err instanceof Error) return { code: errorCode(err), message: err.message }
  return { code: null, message: String(err) }
}
