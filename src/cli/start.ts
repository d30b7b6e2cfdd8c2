/**
 * `start`: the supervisor in the foreground, with the control socket and the HTTP API on (what
 * pm2 runs). SIGINT, SIGTERM and pm2's `shutdown` message stop it gracefully; a second signal
 * while stopping exits at once (both handled in one place, src/pm2/shutdown.ts).
 */
import { existsSync } from 'node:fs'
import path from 'node:path'
import { InvalidArgumentError, type Command } from 'commander'
import { request } from '../control/client.js'
import { resolveRuntimeDir, socketPath } from '../control/socket-path.js'
import { OutriggerError } from '../errors.js'
import { attachPm2 } from '../pm2/attach.js'
import { holdSignalsDuringStart, shutdownOnRequest } from '../pm2/shutdown.js'
import { println, targetOf } from './context.js'

interface StartOptions {
  plugins?: string
  config?: string
  port?: number
  strict?: boolean
  cluster?: string
}

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('run the supervisor in the foreground until SIGINT or SIGTERM')
    .option('--plugins <dir>', 'the enabled plugins folder (default: the config\'s pluginsDir, else plugins/enabled)')
    .option('--config <file>', 'the host config (default: ./outrigger.config.json when it exists)')
    .option('--port <n>', 'HTTP port (0 picks a free one)', parsePort)
    .option('--strict', 'refuse to start when any plugin fails')
    .option('--cluster <url>', 'join the cluster on this Redis (redis://[user:password@]host:port, rediss:// for TLS); overrides cluster.redis of the config')
    .action(async (opts: StartOptions, cmd: Command) => {
      const { app = 'outrigger' } = targetOf(cmd)
      const port = httpPort(opts.port)
      const runtimeDir = resolveRuntimeDir()
      await refuseIfRunning(app, runtimeDir)
      const { startSupervisor } = await import('../start.js')
      const signals = holdSignalsDuringStart()
      const sup = await startSupervisor({
        app,
        pluginsDir: opts.plugins,
        config: opts.config ?? defaultConfigFile(),
        strict: Boolean(opts.strict),
        cluster: opts.cluster,
        control: { runtimeDir },
        http: port === undefined ? true : { port },
        // The process is ours: errors nobody caught follow the config's hostErrors policy.
        handleProcessErrors: true,
      }).catch((err: unknown) => {
        signals.cancel()
        throw err
      })
      const report = sup.status()
      const failed = report.plugins.filter((p) => p.state === 'failed').length
      const http = sup.httpUrl
      println(
        `outrigger "${app}" running: ${report.plugins.length} plugin(s)${failed ? `, ${failed} failed` : ''}; ` +
          `control socket ${socketPath(app, runtimeDir)}${http ? `; http ${http}` : ''}`,
      )
      // Under pm2: `ready` (only now has every plugin started), metrics and actions.
      await attachPm2(sup)
      const stopped = shutdownOnRequest(sup)
      signals.release()
      await stopped
    })
}

/**
 * Fails fast, before any plugin starts, when a live supervisor already owns this app's socket
 * (the control server would refuse later anyway, but only after worker plugins had started).
 */
async function refuseIfRunning(app: string, runtimeDir: string): Promise<void> {
  const file = socketPath(app, runtimeDir)
  const alive = await request({ app, runtimeDir }, 'status', {}, 2000).then(
    () => true,
    () => false,
  )
  if (alive) {
    throw new OutriggerError('RIG_ERR_CONTROL_IN_USE', `a live supervisor for app "${app}" already answers on control socket ${file}; stop it first or start this one with another --app`)
  }
}

/** `npm start` in a project folder needs no flag: its `outrigger.config.json` is the config. */
function defaultConfigFile(): string | undefined {
  const file = path.resolve('outrigger.config.json')
  return existsSync(file) ? file : undefined
}

/** `--port`, else `PORT` from the environment (the usual way hosts and PaaS set it), else the config's. */
function httpPort(flag: number | undefined): number | undefined {
  if (flag !== undefined) return flag
  const env = process.env.PORT
  if (env === undefined || env === '') return undefined
  const n = Number(env)
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new OutriggerError('RIG_ERR_CONFIG_INVALID', `the PORT environment variable must be an integer 0–65535 (found "${env}"); unset it to use the config's http.port`)
  }
  return n
}

function parsePort(v: string): number {
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`must be an integer 0–65535 (found "${v}")`)
  return n
}
