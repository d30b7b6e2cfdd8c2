/** Commands that act on the running supervisor: `restart`, `emit`, `call`, `dead-letters list|replay|purge`. */
import type { Command } from 'commander'
import { request } from '../control/client.js'
import { checkSelection, type LetterSelection, type PurgeResult, type ReplayHalt, type ReplayResult } from '../delivery/dead-letters.js'
import type { DeadLetter } from '../supervisor/types.js'
import { EXIT, printJson, println, targetOf, wantsJson } from './context.js'
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
    .description("re-enqueue a plugin's dead letters, oldest first, while its queue has room (exit 1 when some are left)")
    .option('--id <id...>', 'only these dead letters (repeatable)')
    .option('--limit <n>', 'at most this many, the oldest first')
    .option('--json', 'print the reply as JSON')
    .action(async (plugin: string, opts: { id?: string[]; limit?: string }, cmd: Command) => {
      const sel = selection(cmd, 'replay', { ids: opts.id, limit: opts.limit === undefined ? undefined : wholeNumber(opts.limit) })
      const r = (await request(targetOf(cmd), 'dead-letters.replay', { plugin, ...sel })) as ReplayResult
      if (wantsJson(cmd)) printJson(r)
      else println(`replayed ${r.replayed} dead letter(s) of ${plugin}; ${r.left} left${r.halted ? ` (${HALTED[r.halted](plugin)})` : ''}`)
      // Not everything asked for went: a script can retry once the queue has drained.
      if (r.halted) process.exitCode = EXIT.failure
    })
  dl.command('purge <plugin>')
    .description("delete a plugin's dead letters: all, some by id, or those stored before a time")
    .option('--id <id...>', 'only these dead letters (repeatable)')
    .option('--before <iso-time>', 'only those stored before this ISO 8601 time (e.g. 2026-11-22T14:00:00Z)')
    .option('--json', 'print the reply as JSON')
    .action(async (plugin: string, opts: { id?: string[]; before?: string }, cmd: Command) => {
      const sel = selection(cmd, 'purge', { ids: opts.id, before: opts.before })
      const r = (await request(targetOf(cmd), 'dead-letters.purge', { plugin, ...sel })) as PurgeResult
      if (wantsJson(cmd)) printJson(r)
      else println(`purged ${r.purged} dead letter(s) of ${plugin}; ${r.left} left`)
    })
}

const HALTED: Record<ReplayHalt, (plugin: string) => string> = {
  'queue-full': () => 'its queue is full; replay again once it drains',
  'plugin-stopped': (plugin) => `the plugin is stopped; run "outrigger restart ${plugin}" first`,
}

/** A flag's text as a number when it is one; otherwise the text, for the check to name. */
function wholeNumber(text: string): number | string {
  return /^\d+$/.test(text) ? Number(text) : text
}

/** The selection the flags make, checked here so a bad id or time is a usage error (exit 2). */
function selection(cmd: Command, op: 'replay' | 'purge', raw: Record<string, unknown>): LetterSelection {
  try {
    return checkSelection(raw, op, { ids: '--id', limit: '--limit', before: '--before' })
  } catch (err) {
    return cmd.error(`error: ${(err as Error).message}`, { exitCode: EXIT.usage, code: 'outrigger.usage' })
  }
}
