/** `outrigger profile <plugin> [--instance N] [--seconds S]`: a CPU profile of a worker instance, on demand. */
import type { Command } from 'commander'
import { request } from '../control/client.js'
import { MAX_PROFILE_SECONDS } from '../diagnostics/profile-options.js'
import type { ProfileReport } from '../supervision/instance-diagnostics.js'
import { printJson, println, targetOf, wantsJson } from './context.js'

/** Beyond the profile itself: the supervisor's own bound on the inspector and the file write. */
const REPLY_GRACE_MS = 15_000

export function registerProfile(program: Command): void {
  program
    .command('profile <plugin>')
    .description('record a CPU profile of a worker plugin instance (a .cpuprofile under <stateDir>/profiles; Chrome DevTools and speedscope open it)')
    .option('--instance <n>', 'the instance id (default: the first running one)')
    .option('--seconds <s>', "how long to record (default: the plugin's limits.profileMs, else 2)")
    .option('--json', 'print the reply as JSON')
    .action(async (plugin: string, opts: { instance?: string; seconds?: string }, cmd: Command) => {
      const instance = opts.instance === undefined ? undefined : Number(opts.instance)
      const seconds = opts.seconds === undefined ? undefined : Number(opts.seconds)
      if (instance !== undefined && !(Number.isInteger(instance) && instance >= 0)) {
        cmd.error(`error: --instance must be an instance id, 0 or more (found "${opts.instance}"); \`outrigger status\` lists them`, { exitCode: 2, code: 'outrigger.usage' })
      }
      if (seconds !== undefined && !(seconds > 0 && seconds <= MAX_PROFILE_SECONDS)) {
        cmd.error(`error: --seconds must be a number above 0 and at most ${MAX_PROFILE_SECONDS} (found "${opts.seconds}")`, { exitCode: 2, code: 'outrigger.usage' })
      }
      const args = { plugin, ...(instance !== undefined ? { instance } : {}), ...(seconds !== undefined ? { seconds } : {}) }
      const r = (await request(targetOf(cmd), 'profile', args, (seconds ?? MAX_PROFILE_SECONDS) * 1000 + REPLY_GRACE_MS)) as ProfileReport
      if (wantsJson(cmd)) return printJson(r)
      println(`${r.plugin} instance ${r.instance}: ${r.ms} ms of CPU profile in ${r.file} (${r.bytes} bytes)`)
      if (r.stack.length) println(`running at the start: ${r.stack[0]}`)
    })
}
