/** Commands that act on the running supervisor: `restart`, `emit`, `call`, `dead-letters list|replay`. */
import type { Command } from 'commander'
import { request } from '../control/client.js'
import type { DeadLetter } from '../supervisor/types.js'
import { printJson, println, targetOf, wantsJson } from './context.js'
import { renderTable, useColor, type CellInput } from './table.js'

/** A restart waits for the worker to start, which may take up to its startTimeoutMs. */
const RESTART_TIMEOUT_MS = 60_000
/** A call is bounded by the plugin's own handlerTimeoutMs (30 s by default); wait beyond it. */
const CALL_TIMEOUT_MS = 60_000

export function registerOps(program: Command): void {
  program
    .command('restart <plugin>')
    .description('restart a worker plugin (brings a quarantined or failed one back, read afresh; a core plugin needs a host restart)')
    .option('--json', 'print the reply as JSON')
    .action(async (plugin: string, _opts: unknown, cmd: Command) => {
      const r = await request(targetOf(cmd), 'restart', { plugin }, RESTART_TIMEOUT_MS)
      if (wantsJson(cmd)) printJson(r)
      else println(`restarted ${plugin}`)
    })

  program
    .command('emit <event> [json]')
    .description('emit an event with an optional JSON payload')
    .option('--json', 'print the reply as JSON')
    .action(async (event: string, json: string | undefined, _opts: unknown, cmd: Command) => {
      let payload: unknown
      if (json !== undefined) {
        try {
          payload = JSON.parse(json)
        } catch (err) {
          cmd.error(`error: the payload is not JSON (${(err as Error).message})`, { exitCode: 2, code: 'outrigger.usage' })
        }
      }
      const r = await request(targetOf(cmd), 'emit', { event, payload })
      if (wantsJson(cmd)) printJson(r)
      else println(`emitted ${event}`)
    })

  program
    .command('call <plugin.fn> [json]')
    .description('call a plugin function (target "plugin.function") with optional JSON arguments; prints its result')
    .option('--json', 'print the result as JSON')
    .action(async (target: string, json: string | undefined, _opts: unknown, cmd: Command) => {
      if (!/^[^.]+\..+$/.test(target)) {
        cmd.error(`error: the target must be "plugin.function" (found "${target}")`, { exitCode: 2, code: 'outrigger.usage' })
      }
      let args: unknown
      if (json !== undefined) {
        try {
          args = JSON.parse(json)
        } catch (err) {
          cmd.error(`error: the arguments are not JSON (${(err as Error).message})`, { exitCode: 2, code: 'outrigger.usage' })
        }
      }
      const { result } = (await request(targetOf(cmd), 'call', { target, args }, CALL_TIMEOUT_MS)) as { result?: unknown }
      if (wantsJson(cmd)) printJson(result ?? null)
      else if (typeof result === 'string') println(result)
      else if (result !== undefined) printJson(result)
    })

  const dl = program.command('dead-letters').description('events that ran out of delivery attempts')
  dl.command('list <plugin>')
    .description("list a plugin's dead letters")
    .option('--json', 'print the dead letters as JSON')
    .action(async (plugin: string, _opts: unknown, cmd: Command) => {
      const letters = (await request(targetOf(cmd), 'dead-letters.list', { plugin })) as DeadLetter[]
      if (wantsJson(cmd)) return printJson(letters)
      if (letters.length === 0) return println(`${plugin} has no dead letters`)
      const rows: CellInput[][] = [['ID', 'EVENT', 'ATTEMPTS', 'AT', 'ERROR'].map((text) => ({ text, tone: 'head' as const }))]
      for (const d of letters) {
        rows.push([d.id, d.event, d.attempts, d.at, d.error ? `${d.error.code ?? ''} ${d.error.message}`.trim() : '-'])
      }
      for (const line of renderTable(rows, { color: useColor(), rightAlign: new Set([2]) })) println(line)
    })
  dl.command('replay <plugin>')
    .description("re-enqueue a plugin's dead letters")
    .option('--json', 'print the reply as JSON')
    .action(async (plugin: string, _opts: unknown, cmd: Command) => {
      const r = (await request(targetOf(cmd), 'dead-letters.replay', { plugin })) as { replayed: number }
      if (wantsJson(cmd)) printJson(r)
      else println(`replayed ${r.replayed} dead letter(s) of ${plugin}`)
    })
}
