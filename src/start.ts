/**
 * The composition root: the one place that knows every room. It resolves the config, discovers
 * and loads the plugins, resolves the service slots, boots the core, then starts the faces (the
 * control socket and the HTTP API), each of which registers its own close on the supervisor.
 */
import path from 'node:path'
import { loadConfig, parseConfig, timeoutsFor, type HostConfig } from './config/config.js'
import { discover } from './manifest/discovery.js'
import { loadPlugins } from './plugin/load-plugins.js'
import { resolveSlots } from './services/slots.js'
import { joinCluster } from './cluster/join.js'
import { handleProcessErrors } from './supervision/host-errors.js'
import { OutriggerSupervisor } from './supervisor/supervisor.js'
import type { Supervisor, SupervisorOptions } from './supervisor/types.js'

/** A supervisor as `startSupervisor` hands it over: the core plus what its faces know. */
export interface StartedSupervisor extends Supervisor {
  /** The HTTP API's base URL once it listens (with port 0, the port the system chose). */
  readonly httpUrl: string | undefined
}

/** Boots a supervisor: discover, load, resolve service slots, start plugins in order, then the faces. */
export async function startSupervisor(opts: SupervisorOptions = {}): Promise<StartedSupervisor> {
  const app = opts.app ?? 'outrigger'
  const { config, baseDir } = await resolveConfig(opts.config)
  const pluginsDir = path.resolve(opts.pluginsDir ?? path.resolve(baseDir, config.pluginsDir))
  const stateDir = path.resolve(opts.stateDir ?? path.resolve(baseDir, config.stateDir))

  const found = await discover(pluginsDir)
  const loaded = await loadPlugins(found.plugins, config)

  const slots = await resolveSlots(loaded, { app, config, stateDir, logger: opts.logger, store: opts.store })
  for (const w of found.warnings) slots.logger.warn(w)

  const cluster = await joinCluster(opts.cluster, config, { stateDir, baseDir, log: slots.logger })
  const sup = new OutriggerSupervisor({ app, config, stateDir, loaded, slots, blame: opts.handleProcessErrors === true, pluginsDir, configFile: typeof opts.config === 'string' ? opts.config : undefined, cluster })
  // After the plugins closed (their last acks sent): the node leaves the cluster.
  if (cluster) sup.onClose(() => cluster.close())
  if (opts.handleProcessErrors) {
    // Before boot: an error escaping from a plugin's init is already handled by the policy. The
    // handlers go last at stop (closers run last registered first).
    // Closes run one after another, each within its own limit (plugins.<name>.timeouts.closeMs).
    const closes = loaded.reduce((sum, l) => sum + timeoutsFor(config, l.found.name).closeMs, config.timeouts.closeMs)
    const off = handleProcessErrors(sup, { mode: config.hostErrors, stopDeadlineMs: config.timeouts.drainMs + closes + 10_000 })
    sup.onClose(async () => off())
  }
  await sup.boot({ strict: opts.strict })

  let httpUrl: string | undefined
  try {
    if (opts.control !== false) {
      const { startControlServer } = await import('./control/server.js')
      await startControlServer(sup, { app, runtimeDir: typeof opts.control === 'object' ? opts.control.runtimeDir : undefined })
    }
    if (opts.http !== false) {
      const { startHttpServer } = await import('./http/server.js')
      const o = typeof opts.http === 'object' ? opts.http : {}
      const h = config.http
      httpUrl = (await startHttpServer(sup, { host: o.host ?? h.host, port: o.port ?? h.port, maxBodyBytes: h.maxBodyBytes, requestTimeoutMs: h.requestTimeoutMs })).url
    }
  } catch (err) {
    // A taken socket or port must not leave the plugins that did start running behind us.
    await sup.stop()
    throw err
  }
  sup.running()
  return Object.assign(sup, { httpUrl })
}

async function resolveConfig(config: SupervisorOptions['config']): Promise<{ config: HostConfig; baseDir: string }> {
  if (typeof config === 'string') return loadConfig(config)
  return { config: parseConfig(config ?? {}, 'config'), baseDir: process.cwd() }
}
