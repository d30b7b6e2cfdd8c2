/**
 * The `outrigger` command line (DESIGN §5). Exit codes: 0 ok, 1 failure or not healthy,
 * 2 usage error (with the command's usage line), 3 supervisor unreachable.
 */
import { Command, CommanderError } from 'commander'
import { guardStdio } from '../services/log-output.js'
import { VERSION } from '../version.js'
import { EXIT, reportError } from './context.js'
import { registerOps } from './ops.js'
import { registerPlugins } from './plugins.js'
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
  registerPlugins(program)
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
      process.exitCode = isUsageError(err) ? EXIT.usage : err.exitCode
      return
    }
    process.exitCode = reportError(err)
  }
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
