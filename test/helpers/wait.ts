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

/** Whether a process exists (signal 0 checks without touching it; EPERM means it exists). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH'
  }
}
