/**
 * An action's deadline. JavaScript cannot cancel a running function, so the deadline answers the
 * caller, aborts the signal the work was given (the action may stop on it; the path stops at its
 * next step), and keeps a late settlement from surfacing as an unhandled rejection.
 */
export async function runWithDeadline<T>(ms: number, work: (signal: AbortSignal) => Promise<T>, timeoutError: () => Error): Promise<T> {
  const ac = new AbortController()
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = timeoutError()
      ac.abort(err)
      reject(err)
    }, ms)
  })
  const running = work(ac.signal)
  try {
    return await Promise.race([running, deadline])
  } finally {
    clearTimeout(timer)
    // After the deadline nobody awaits `running`; its rejection is expected (the abort) or late.
    if (ac.signal.aborted) running.catch(() => {})
  }
}
