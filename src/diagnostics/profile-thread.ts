/**
 * A CPU profile of a worker thread, taken from the host. The host's own inspector session (no
 * port is opened) attaches to the thread through the `NodeWorker` domain and talks to the
 * thread's inspector with `sendMessageToWorker`. The thread's inspector answers between any two
 * JavaScript statements, so this works on a thread spinning in `while (true)`.
 */
import { writeFile } from 'node:fs/promises'
import type { Session } from 'node:inspector'
import { errorMessage, OutriggerError } from '../errors.js'
import type { ProfileWritten, ProtocolSession, RecordedProfile } from './cpu-profile.js'
import { recordCpuProfile } from './cpu-profile.js'

/** How long the thread's inspector has to show up once the domain is on. */
const ATTACH_MS = 5000

/** Profiles thread `threadId` for `ms` and writes the profile to `file`. */
export async function profileThreadTo(threadId: number, ms: number, file: string, label: string): Promise<ProfileWritten> {
  const { profile, stack } = await profileThread(threadId, ms, label)
  const text = JSON.stringify(profile)
  try {
    await writeFile(file, text)
  } catch (err) {
    throw new OutriggerError('RIG_ERR_PROFILE_FAILED', `${label}: could not write its CPU profile to ${file}: ${errorMessage(err)}`)
  }
  return { file, bytes: Buffer.byteLength(text), stack }
}

async function profileThread(threadId: number, ms: number, label: string): Promise<RecordedProfile> {
  let session: Session
  try {
    const inspector = await import('node:inspector')
    session = new inspector.Session()
    session.connect()
  } catch (err) {
    throw new OutriggerError('RIG_ERR_PROFILE_UNAVAILABLE', `${label}: the host's inspector is not available (${errorMessage(err)})`)
  }
  const host = hostSession(session)
  try {
    const attached = waitForThread(session, threadId)
    await host.post('NodeWorker.enable', { waitForDebuggerOnStart: false })
    const sessionId = await attached
    if (sessionId === undefined) throw new OutriggerError('RIG_ERR_PROFILE_FAILED', `${label}: its thread (id ${threadId}) did not show up in the inspector within ${ATTACH_MS} ms; did it just exit?`)
    return await recordCpuProfile(threadSession(session, host, sessionId), ms)
  } catch (err) {
    if (err instanceof OutriggerError) throw err
    throw new OutriggerError('RIG_ERR_PROFILE_FAILED', `${label}: the CPU profile failed: ${errorMessage(err)}`)
  } finally {
    session.disconnect()
  }
}

type HostSession = Pick<ProtocolSession, 'post'>

function hostSession(session: Session): HostSession {
  return {
    post: (method: string, params: object = {}) =>
      new Promise((resolve, reject) => session.post(method, params, (err, r) => (err ? reject(err) : resolve(r)))),
  }
}

/** Resolves with the inspector session id of thread `threadId`, or undefined when it never attaches. */
function waitForThread(session: Session, threadId: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => done(undefined), ATTACH_MS)
    // `workerId` is the inspector's own numbering, not the thread id; the title carries the thread
    // id: "[worker 3]" (Node 20), "[worker 3] name" (Node 22 and later).
    const on = (m: { params: { sessionId: string; workerInfo: { title: string } } }): void => {
      if (/^\[worker (\d+)\]/.exec(m.params.workerInfo.title)?.[1] === String(threadId)) done(m.params.sessionId)
    }
    const done = (id: string | undefined): void => {
      clearTimeout(timer)
      session.off('NodeWorker.attachedToWorker', on)
      resolve(id)
    }
    session.on('NodeWorker.attachedToWorker', on)
  })
}

/** The thread's own protocol, wrapped in `NodeWorker.sendMessageToWorker` and its answers. */
function threadSession(session: Session, host: HostSession, sessionId: string): ProtocolSession {
  let nextId = 1
  const answers = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>()
  const listeners = new Map<string, Set<(params: unknown) => void>>()
  session.on('NodeWorker.receivedMessageFromWorker', (m: { params: { sessionId: string; message: string } }) => {
    if (m.params.sessionId !== sessionId) return
    const msg = JSON.parse(m.params.message) as { id?: number; result?: unknown; error?: { message: string }; method?: string; params?: unknown }
    const answer = msg.id === undefined ? undefined : answers.get(msg.id)
    if (answer) {
      answers.delete(msg.id!)
      if (msg.error) answer.reject(new Error(msg.error.message))
      else answer.resolve(msg.result)
    } else if (msg.method) for (const l of listeners.get(msg.method) ?? []) l(msg.params)
  })
  // A thread that exits mid-profile must not leave the caller waiting.
  session.on('NodeWorker.detachedFromWorker', (m: { params: { sessionId: string } }) => {
    if (m.params.sessionId !== sessionId) return
    for (const a of answers.values()) a.reject(new Error('the thread exited during the profile'))
    answers.clear()
  })
  return {
    post: (method, params = {}) =>
      new Promise((resolve, reject) => {
        const id = nextId++
        answers.set(id, { resolve, reject })
        host.post('NodeWorker.sendMessageToWorker', { sessionId, message: JSON.stringify({ id, method, params }) }).catch((err: Error) => {
          answers.delete(id)
          reject(err)
        })
      }),
    on: (method, listener) => {
      const set = listeners.get(method) ?? new Set()
      listeners.set(method, set.add(listener))
      return () => set.delete(listener)
    },
  }
}
