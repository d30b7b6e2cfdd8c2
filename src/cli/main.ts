/**
 * The `outrigger` command line (DESIGN §5). Exit codes: 0 ok, 1 failure or not healthy,
 * 2 usage error (with the command's usage line), 3 supervisor unreachable.
 */
import { Command, CommanderError } from 'commander'
import { guardStdio } from '../services/log-output.js'
import { VERSION } from '../version.js'
import { EXIT, reportError } from './context.js'
import { registerLog } from './log.js'
import { registerOps } from './ops.js'
import { registerPlugins } from './plugins.js'
import { registerProfile } from './profile.js'
import { registerReload } from './reload.js'
import { registerNew } from './scaffold.js'
import { registerStart } from './start.js'
import { registerStatus } from './status.js'
import { registerTop } from './top.js'
import { registerValidate } from './validate.js'

export function buildProgram(): Command {
  const program = new Command('outrigger')
    .description('Run and inspect an Outrigger plugin supervisor')
    .version(VERSION)
    .option('--app <name>', 'which supervisor (names the control socket)', 'outrigger')
  registerStart(program)
  registerStatus(program)
  registerTop(program)
  registerOps(program)
  registerLog(program)
  registerReload(program)
  registerPlugins(program)
  registerProfile(program)
  registerValidate(program)
  registerNew(program)
  for (const cmd of allCommands(program)) {
    cmd.exitOverride((err) => {
      // commander has printed the error; the usage line says how to call this command.
      if (isUsageError(err) && err.code !== 'commander.help') process.stderr.write(`Usage: ${fullName(cmd)} ${cmd.usage()}\n`)
      throw err
    })
  }
  return program
}

export async function main(argv: string[]): Promise<void> {
  // A reader that goes away (`outrigger start | head`) must not kill the command with EPIPE.
  guardStdio()
  const program = buildProgram()
  try {
    await program.parseAsync(argv)
  } catch (err) {
    if (err instanceof CommanderError) {
      exitNow(isUsageError(err) ? EXIT.usage : err.exitCode)
      return
    }
    exitNow(reportError(err))
  }
}

/**
 * A failed command exits now rather than when the event loop empties: a `start` that failed
 * half-way may leave handles open (pm2's IPC channel, a plugin's timer), and a process that stays
 * up after its error is shown `online` by pm2 forever instead of being restarted with backoff.
 * What was written to stdout and stderr is flushed first (pipes may be asynchronous).
 */
function exitNow(code: number): void {
  process.exitCode = code
  let pending = 2
  const done = (): void => {
    if (--pending === 0) process.exit(code)
  }
  process.stdout.write('', done)
  process.stderr.write('', done)
  // A stuck stream (a reader that stopped reading) must not hold the exit either.
  setTimeout(() => process.exit(code), 1000).unref()
}

function isUsageError(err: CommanderError): boolean {
  return !['commander.helpDisplayed', 'commander.version'].includes(err.code)
}

function allCommands(cmd: Command): Command[] {
  return [cmd, ...cmd.commands.flatMap(allCommands)]
}

function fullName(cmd: Command): string {
  const names: string[] = []
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name())
  return names.join(' ')
}
