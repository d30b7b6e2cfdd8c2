/** `outrigger reload <plugin>`: a live reload of one plugin in the running supervisor (docs/reload.md). */
import type { Command } from 'commander'
import { request } from '../control/client.js'
import type { ReloadResult } from '../supervisor/types.js'
import { printJson, println, targetOf, wantsJson } from './context.js'

/**
 * A reload starts each new instance (up to its startTimeoutMs) and waits for each old one to
 * answer what it holds (up to its handlerTimeoutMs), one instance after the other.
 */
export const RELOAD_TIMEOUT_MS = 300_000

export function registerReload(program: Command): void {
  program
    .command('reload <plugin>')
    .description("read a plugin's manifest, config section and code from disk again and roll it in without stopping (core plugins: only with \"reloadable\": true)")
    .option('--json', 'print the reply as JSON')
    .action(async (plugin: string, _opts: unknown, cmd: Command) => {
      const r = (await request(targetOf(cmd), 'reload', { plugin }, RELOAD_TIMEOUT_MS)) as ReloadResult
      if (wantsJson(cmd)) return printJson(r)
      const instances = r.instances ? `, ${r.instances} instance(s) rolled` : ''
      println(`reloaded ${r.plugin}: ${r.from} → ${r.to} in ${r.ms} ms${instances}`)
    })
}
