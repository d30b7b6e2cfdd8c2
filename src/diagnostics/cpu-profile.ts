/**
 * The steps of one CPU profile over an inspector protocol session, whichever side holds the
 * session: the host (a thread, reached through the `NodeWorker` domain) or a helper thread inside
 * a child process (`connectToMainThread`). Host-free: the worker side imports it too.
 */

/** A DevTools protocol session, reduced to what a profile needs. */
export interface ProtocolSession {
  post(method: string, params?: object): Promise<any>
  /** Calls `listener` with the params of every `method` event until the returned function is called. */
  on(method: string, listener: (params: any) => void): () => void
}

/** A recorded profile (the `.cpuprofile` format: DevTools and speedscope open it) and the stack seen at its start. */
export interface RecordedProfile {
  profile: { nodes: unknown[]; samples?: unknown[] }
  /** The JavaScript stack when the profile began, innermost first (`fn (url:line:col)`); empty when idle. */
  stack: string[]
}

/** A profile written to its file. */
export interface ProfileWritten {
  file: string
  bytes: number
  stack: string[]
}

/** How long to wait for the pause that tells where a busy thread is (an idle one never pauses). */
const PAUSE_WAIT_MS = 500

/**
 * Records `ms` of CPU samples.
 *
 * Why the debugger steps in: a function spinning in a loop runs on-stack-replaced (OSR) code,
 * which V8 does not announce to a profiler started after it, so every sample of the spinning
 * function would be charged to its caller and the profile would miss the one name it is for.
 * One pause and one step deoptimize the running frame; from then on the function runs (and is
 * compiled again) under the profiler's eyes. The pause also tells the stack at the start. An idle
 * thread never pauses; the debugger is turned off again before the wait, whatever happened.
 */
export async function recordCpuProfile(s: ProtocolSession, ms: number): Promise<RecordedProfile> {
  await s.post('Profiler.enable')
  await s.post('Profiler.start')
  let stack: string[] = []
  // Debugger.enable announces every script: their urls name the stack's files.
  const urls = new Map<string, string>()
  const off = s.on('Debugger.scriptParsed', (p: { scriptId: string; url: string }) => urls.set(p.scriptId, p.url))
  try {
    await s.post('Debugger.enable')
    const paused = next(s, 'Debugger.paused', PAUSE_WAIT_MS)
    await s.post('Debugger.pause')
    const at = await paused
    if (at) {
      stack = describeFrames(at.callFrames, urls)
      await s.post('Debugger.stepOver')
    }
  } finally {
    off()
    await s.post('Debugger.disable').catch(() => undefined)
  }
  await new Promise((resolve) => setTimeout(resolve, ms))
  const { profile } = await s.post('Profiler.stop')
  await s.post('Profiler.disable').catch(() => undefined)
  return { profile, stack }
}

/** The params of the next `method` event, or undefined after `timeoutMs`. */
function next(s: ProtocolSession, method: string, timeoutMs: number): Promise<any> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      off()
      resolve(undefined)
    }, timeoutMs)
    const off = s.on(method, (params) => {
      clearTimeout(timer)
      off()
      resolve(params)
    })
  })
}

interface CallFrame {
  functionName: string
  url?: string
  location: { scriptId: string; lineNumber: number; columnNumber?: number }
}

function describeFrames(frames: CallFrame[] | undefined, urls: Map<string, string>): string[] {
  return (frames ?? []).slice(0, 20).map((f) => {
    const url = f.url || urls.get(f.location.scriptId) || '<unknown>'
    return `${f.functionName || '(anonymous)'} (${url}:${f.location.lineNumber + 1}:${(f.location.columnNumber ?? 0) + 1})`
  })
}
