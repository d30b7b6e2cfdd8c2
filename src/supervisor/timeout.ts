import { OutriggerError, type ErrorCode } from '../errors.js'

/**
 * Races a step against a deadline. The step is not cancelled (JavaScript cannot cancel it); the
 * caller stops waiting and marks the plugin failed, and the step's late result is ignored.
 */
export async function withTimeout<T>(work: () => unknown, ms: number, code: ErrorCode, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new OutriggerError(code, message)), ms)
  })
  try {
    return (await Promise.race([Promise.resolve().then(work), deadline])) as T
  } finally {
    clearTimeout(timer)
  }
}
