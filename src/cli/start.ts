/**
 * `start`: the supervisor in the foreground, with the control socket and the HTTP API on (what
 * pm2 runs). SIGINT, SIGTERM and pm2's `shutdown` message stop it gracefully; a second signal
 * while stopping exits at once.
 */
import { InvalidArgumentError, type Command } from 'commander'
import { resolveRuntimeDir, socketPath } from '../control/socket-path.js'
import { EXIT, println, targetOf } from './context.js'

interface StartOptions {
  plugins?: string
  config?: string
  port?: number
  strict?: boolean
}

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('run the supervisor in the foreground until SIGINT or SIGTERM')
    .option('--plugins <dir>', 'the enabled plugins folder (default: the config\'s pluginsDir, else plugins/enabled)')
    .option('--config <file>', 'the host config, outrigger.config.json')
    .option('--port <n>', 'HTTP port (0 picks a free one)', parsePort)
    .option('--strict', 'refuse to start when any plugin fails')
    .action(async (opts: StartOptions, cmd: Command) => {
      const { app = 'outrigger' } = targetOf(cmd)
      const runtimeDir = resolveRuntimeDir()
      const { startSupervisor } = await import('../supervisor/supervisor.js')
      const sup = await startSupervisor({
        app,
        pluginsDir: opts.plugins,
        config: opts.config,
        strict: Boolean(opts.strict),
        control: { runtimeDir },
        http: opts.port === undefined ? true : { port: opts.port },
      })
      const report = sup.status()
      const failed = report.plugins.filter((p) => p.state === 'failed').length
      const http = (sup as { httpUrl?: string }).httpUrl
      println(
        `outrigger "${app}" running: ${report.plugins.length} plugin(s)${failed ? `, ${failed} failed` : ''}; ` +
          `control socket ${socketPath(app, runtimeDir)}${http ? `; http ${http}` : ''}`,
      )
      // pm2's wait_ready: only now has every plugin started.
      process.send?.('ready')
      await untilStopRequested()
      await sup.stop()
      process.exitCode = EXIT.ok
    })
}

function parsePort(v: string): number {
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`must be an integer 0–65535 (found "${v}")`)
  return n
}

function untilStopRequested(): Promise<void> {
  return new Promise((resolve) => {
    let asked = false
    const stop = (why: string): void => {
      if (asked) {
        process.stderr.write(`outrigger: ${why} again while stopping; exiting now\n`)
        process.exit(EXIT.failure)
      }
      asked = true
      process.stderr.write(`outrigger: ${why}, stopping (drain, close plugins, stop workers)\n`)
      resolve()
    }
    process.on('SIGINT', () => stop('SIGINT'))
    process.on('SIGTERM', () => stop('SIGTERM'))
    process.on('message', (m) => {
      if (m === 'shutdown') stop('shutdown message')
    })
  })
}
