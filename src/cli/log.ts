/** `outrigger log tail [-f] [--from SEQ] [--type GLOB] [--json]` and `outrigger log replica [--plugin NAME] [--json]`. */
import { InvalidArgumentError, type Command } from 'commander'
import { ControlClient } from '../control/client.js'
import type { LogPage } from '../coordination/read.js'
import type { LogEntry } from '../coordination/types.js'
import { printJson, println, targetOf, wantsJson } from './context.js'

/** How often `log tail -f` asks for new entries. */
const FOLLOW_MS = 200

export function registerLog(program: Command): void {
  const log = program.command('log').description('the coordination log: its entries and the replica they build')

  log
    .command('tail')
    .description('print the last entries of the coordination log (from SEQ with --from; -f keeps following)')
    .option('-f, --follow', 'keep printing new entries until Ctrl-C')
    .option('--from <seq>', 'start at this seq (default: the last 20 entries)', seqArg)
    .option('--type <glob>', 'only entries whose type matches (e.g. "instance/*", "my-plugin/*")')
    .option('--json', 'print one JSON entry per line')
    .action(async (opts: { follow?: boolean; from?: number; type?: string }, cmd: Command) => {
      const json = wantsJson(cmd)
      const client = await ControlClient.connect(targetOf(cmd))
      try {
        let from = opts.from
        if (from === undefined) {
          // The last 20 entries of the kind asked for: ask for a window, print its end.
          const page = (await client.request('log.read', { limit: 20, ...(opts.type ? { type: opts.type } : {}) })) as LogPage
          for (const e of page.entries) print(e, json)
          from = page.next
        }
        for (;;) {
          const page = (await client.request('log.read', { from, limit: 1000, ...(opts.type ? { type: opts.type } : {}) })) as LogPage
          for (const e of page.entries) print(e, json)
          from = page.next
          if (page.next > page.committed) {
            if (!opts.follow) return
            await new Promise((r) => setTimeout(r, FOLLOW_MS))
          }
        }
      } finally {
        client.close()
      }
    })

  log
    .command('replica')
    .description("print the replica the log builds (the supervisor's; with --plugin, what that plugin's instances hold)")
    .option('--plugin <name>', 'the replica as that plugin sees it (a worker plugin: asked of one of its instances)')
    .option('--json', 'print compact JSON')
    .action(async (opts: { plugin?: string }, cmd: Command) => {
      const client = await ControlClient.connect(targetOf(cmd))
      try {
        const replica = await client.request('log.replica', opts.plugin ? { plugin: opts.plugin } : {})
        if (wantsJson(cmd)) println(JSON.stringify(replica))
        else printJson(replica)
      } finally {
        client.close()
      }
    })
}

function print(e: LogEntry, json: boolean): void {
  if (json) return println(JSON.stringify(e))
  println(`${String(e.seq).padStart(6)}  ${new Date(e.at).toISOString()}  ${e.type.padEnd(24)}  ${JSON.stringify(e.args)}`)
}

function seqArg(v: string): number {
  const n = Number(v)
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`--from must be a seq (a whole number), got "${v}"`)
  return n
}
