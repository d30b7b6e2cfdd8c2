/**
 * The profiler thread of a child-process instance. It reads profile requests from the
 * diagnostics pipe (profile-wire.ts), records the main thread through an inspector session of
 * its own (`connectToMainThread`: no port is opened), and writes the file itself, because a main
 * thread stuck in an endless loop never would: the host kills the process once it has the answer.
 */
import { writeFile } from 'node:fs/promises'
import type { Session } from 'node:inspector'
import { Socket } from 'node:net'
import { recordCpuProfile, type ProtocolSession } from '../src/diagnostics/cpu-profile.js'
import { DIAGNOSTICS_FD, type ProfileReply, type ProfileRequest } from '../src/diagnostics/profile-wire.js'

// Not unref'd: the open pipe is what keeps this thread alive. The thread itself is unref'd by the
// main thread (profiler-start.ts), so it never keeps the process alive.
const pipe = new Socket({ fd: DIAGNOSTICS_FD, readable: true, writable: true })
pipe.on('error', () => undefined)

const reply = (r: ProfileReply): void => void pipe.write(`${JSON.stringify(r)}\n`)

let buffered = ''
let busy = Promise.resolve()
pipe.on('data', (chunk: Buffer) => {
  buffered += chunk.toString('utf8')
  for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
    const req = JSON.parse(buffered.slice(0, nl)) as ProfileRequest
    buffered = buffered.slice(nl + 1)
    // One profile at a time: the main thread has one profiler.
    busy = busy.then(() => answer(req))
  }
})

async function answer(req: ProfileRequest): Promise<void> {
  let session: Session
  try {
    session = await connect()
  } catch (err) {
    // A permission model without the inspector (Node 20 has no flag for it; Node 24 needs
    // --allow-inspector): the request is refused with the reason, and the host remembers it.
    return reply({ id: req.id, ok: false, error: `the inspector is not available in this process (${(err as Error).message})`, unavailable: true })
  }
  try {
    const { profile, stack } = await recordCpuProfile(protocol(session), req.ms)
    const text = JSON.stringify(profile)
    await writeFile(req.file, text)
    reply({ id: req.id, ok: true, file: req.file, bytes: Buffer.byteLength(text), stack })
  } catch (err) {
    reply({ id: req.id, ok: false, error: (err as Error).message })
  } finally {
    // Connected only while profiling: a session left open would make a normal exit wait for it.
    session.disconnect()
  }
}

async function connect(): Promise<Session> {
  const { Session } = await import('node:inspector')
  const s = new Session()
  s.connectToMainThread()
  return s
}

function protocol(s: Session): ProtocolSession {
  return {
    post: (method, params = {}) => new Promise((resolve, reject) => s.post(method, params, (err, r) => (err ? reject(err) : resolve(r)))),
    on: (method, listener) => {
      const on = (m: { params: unknown }): void => listener(m.params)
      s.on(method, on)
      return () => void s.off(method, on)
    },
  }
}
