import { writeSync } from 'node:fs'
import { Worker } from 'node:worker_threads'
import { DIAGNOSTICS_FD, type ProfileReply } from '../src/diagnostics/profile-wire.js'

/**
 * Starts the profiler thread of a child-process instance (workers/profiler.ts). A profile must be
 * taken while the main thread is stuck, when it could start nothing, so the thread starts with the
 * instance. Where it cannot (a permission model without worker threads) or when it dies, the host
 * is told on the diagnostics pipe, so a profile request is refused with the reason at once.
 */
export function startProfilerThread(): void {
  const unavailable = (why: string): void => {
    const r: ProfileReply = { id: 0, ok: false, error: why, unavailable: true }
    try {
      writeSync(DIAGNOSTICS_FD, `${JSON.stringify(r)}\n`)
    } catch {}
  }
  try {
    const thread = new Worker(new URL('./profiler.js', import.meta.url), {
      // Room for one profile of a few MB being turned into JSON.
      resourceLimits: { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 8 },
      stdout: false,
      stderr: false,
    })
    thread.unref()
    thread.on('error', (err) => unavailable(`the profiler thread failed: ${err.message}`))
  } catch (err) {
    unavailable(`no profiler thread could start (${(err as Error).message})`)
  }
}
