/** What every command shares: the control target, output helpers and exit codes. */
import type { Command } from 'commander'
import { errorCode } from '../errors.js'
import type { ControlTarget } from '../control/client.js'

/** DESIGN §5: 0 ok, 1 failure (or not healthy), 2 usage error, 3 supervisor unreachable. */
export const EXIT = { ok: 0, failure: 1, usage: 2, unreachable: 3 } as const

/** The supervisor a command talks to, from the global `--app`. */
export function targetOf(cmd: Command): ControlTarget {
  const { app } = cmd.optsWithGlobals<{ app?: string }>()
  return { app: app ?? 'outrigger' }
}

export function wantsJson(cmd: Command): boolean {
  return Boolean(cmd.opts<{ json?: boolean }>().json)
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n')
}

export function println(line = ''): void {
  process.stdout.write(line + '\n')
}

/** Prints an error thrown by a command and picks the exit code. */
export function reportError(err: unknown): number {
  const code = errorCode(err)
  const message = err instanceof Error ? err.message : String(err)
  process.stderr.write(`outrigger: ${typeof code === 'string' ? `${code}: ` : ''}${message}\n`)
  if (code === 'RIG_ERR_CONTROL_UNREACHABLE') return EXIT.unreachable
  if (!(err instanceof Error) || (typeof code !== 'string' && process.env.OUTRIGGER_DEBUG)) {
    process.stderr.write(`${(err as Error)?.stack ?? ''}\n`)
  }
  return EXIT.failure
}

/** Human durations: `850ms`, `12.3s`, `4m05s`, `2h07m`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`
  const s = ms / 1000
  if (s < 60) return `${s.toFixed(1)}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m${String(Math.floor(s % 60)).padStart(2, '0')}s`
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`
}
