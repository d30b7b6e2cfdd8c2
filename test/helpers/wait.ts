import { readFileSync } from 'node:fs'

/** Waiting for a state, never for a time: the one `until` and the one `alive` of the tests. */

/**
 * Polls `probe` until it holds: any value but `false` and `undefined` (so an exit code of 0
 * counts), which it resolves with; `null` does not hold either. Fails naming `what` once `deadlineMs` has passed.
 */
export async function until<T>(what: string, probe: () => T | false | undefined | Promise<T | false | undefined>, deadlineMs = 10_000): Promise<T> {
  const end = Date.now() + deadlineMs
  for (;;) {
    const v = await probe()
    if (v !== false && v !== undefined && v !== null) return v
    if (Date.now() > end) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

/**
 * Whether a process is alive: it exists (signal 0 checks without touching it; EPERM means it
 * exists) and is not a zombie waiting for its parent to reap it.
 */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false
  }
  try {
    // The state follows the command name in parentheses: `pid (comm) S …`.
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return true
  }
}
