/**
 * The control channel: a real supervisor's socket, its permissions, what it does with garbage
 * and oversized frames, stale sockets, a second supervisor for the same app, and ownership.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { chmodSync, chownSync, existsSync, mkdirSync, statSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { ControlClient, request } from '../src/control/client.js'
import { ensureRuntimeDir, resolveRuntimeDir, socketPath } from '../src/control/socket-path.js'
import { isOutriggerError } from '../src/errors.js'
import type { Supervisor } from '../src/supervisor/types.js'
import { collect, startHost, workspace } from './helpers/cli-run.js'
import { until } from './helpers/wait.js'

type Workspace = Awaited<ReturnType<typeof workspace>>

/** Writes raw bytes on a fresh connection and reads frames until `count` replies have arrived. */
function rawReplies(file: string, chunks: string[], count: number): Promise<Array<{ type: string; data: { id: unknown; ok: boolean; error?: { code: string; message: string }; result?: unknown } }>> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ path: file })
    let buf = ''
    const replies: Array<{ type: string; data: never }> = []
    socket.setEncoding('utf8')
    socket.on('connect', () => {
      for (const c of chunks) socket.write(c)
    })
    socket.on('data', (d: string) => {
      buf += d
      let at: number
      while ((at = buf.indexOf('\f')) !== -1) {
        replies.push(JSON.parse(buf.slice(0, at)))
        buf = buf.slice(at + 1)
      }
      if (replies.length >= count) {
        socket.destroy()
        resolve(replies)
      }
    })
    socket.on('error', reject)
    socket.on('close', () => reject(new Error(`connection closed after ${replies.length} of ${count} replies`)))
  })
}

const frame = (data: unknown): string => JSON.stringify({ type: 'rig.request', data }) + '\f'

describe('control socket', () => {
  let ws: Workspace
  let sup: Supervisor
  let file: string

  before(async () => {
    ws = await workspace(['greeter'])
    // A runtime folder that exists with loose permissions must be tightened to 0700.
    mkdirSync(ws.runtimeDir, { mode: 0o755 })
    chmodSync(ws.runtimeDir, 0o755)
    sup = await startHost('ctl', ws)
    file = socketPath('ctl', ws.runtimeDir)
  })
  after(async () => {
    await sup.stop()
    await ws.cleanup()
  })

  it('lives at <runtimeDir>/<app>.sock, mode 0600, in a 0700 folder', () => {
    assert.equal(file, path.join(ws.runtimeDir, 'ctl.sock'))
    const st = statSync(file)
    assert.ok(st.isSocket())
    assert.equal(st.mode & 0o777, 0o600)
    assert.equal(statSync(ws.runtimeDir).mode & 0o777, 0o700)
  })

  it('resolves the runtime folder from the environment in the documented order', () => {
    assert.equal(resolveRuntimeDir({ OUTRIGGER_RUNTIME_DIR: '/a/b', XDG_RUNTIME_DIR: '/x' }), '/a/b')
    assert.equal(resolveRuntimeDir({ XDG_RUNTIME_DIR: '/run/user/7' }), '/run/user/7/outrigger')
    assert.match(resolveRuntimeDir({}), /outrigger-\d+$/)
  })

  it('answers every command', async () => {
    const target = { app: 'ctl', runtimeDir: ws.runtimeDir }
    const status = (await request(target, 'status', {})) as { app: string; plugins: { name: string }[] }
    assert.equal(status.app, 'ctl')
    assert.deepEqual(await request(target, 'health', {}), { health: 'healthy', plugins: [{ name: 'greeter', state: 'running' }] })
    assert.equal(((await request(target, 'plugins.list', {})) as unknown[]).length, 1)
    assert.equal(((await request(target, 'plugins.describe', { name: 'greeter' })) as { name: string }).name, 'greeter')
    assert.deepEqual(await request(target, 'emit', { event: 'greet:hi', payload: { times: 2 } }), { event: 'greet:hi', emitted: true })
    await until('the greeting to be counted', async () => (await sup.call('greeter.count')) === 2)
    await assert.rejects(request(target, 'plugins.describe', { name: 'nope' }), (e) => isOutriggerError(e, 'RIG_ERR_UNKNOWN_PLUGIN'))
    await assert.rejects(request(target, 'restart', { plugin: 'nope' }), (e) => isOutriggerError(e, 'RIG_ERR_UNKNOWN_PLUGIN'))
  })

  it('refuses unknown commands and bad arguments with RIG_ERR_CONTROL_REQUEST and keeps serving', async () => {
    const client = await ControlClient.connect({ app: 'ctl', runtimeDir: ws.runtimeDir })
    try {
      await assert.rejects(client.request('launch' as never, {} as never), (e) => isOutriggerError(e, 'RIG_ERR_CONTROL_REQUEST') && /unknown command "launch"/.test(e.message))
      await assert.rejects(client.request('restart', {} as never), (e) => isOutriggerError(e, 'RIG_ERR_CONTROL_REQUEST') && /plugin/.test(e.message))
      await assert.rejects(client.request('status', { extra: 1 } as never), (e) => isOutriggerError(e, 'RIG_ERR_CONTROL_REQUEST'))
      assert.equal(((await client.request('health', {})) as { health: string }).health, 'healthy')
    } finally {
      client.close()
    }
  })

  it('survives garbage bytes, answering each bad frame and then the next good request', async () => {
    // Each of these crashes or misleads a bare node-ipc 12.0.0 server (see src/control/frame-guard.ts).
    const garbage = ['[]\f', '{"type":1}\f', 'null\f', 'not json at all\f', '\u0000\u00ff\u0001binary\f', '{"type":"start","data":{}}\f', '{"type":"close","data":{}}\f', frame(null), frame({ id: 1, cmd: 7 })]
    const replies = await rawReplies(file, [...garbage, frame({ id: 'good', cmd: 'health' })], garbage.length + 1)
    for (const r of replies.slice(0, -1)) {
      assert.equal(r.type, 'rig.reply')
      assert.equal(r.data.ok, false)
      assert.equal(r.data.error?.code, 'RIG_ERR_CONTROL_REQUEST')
    }
    const last = replies.at(-1)!
    assert.deepEqual(last.data, { id: 'good', ok: true, result: { health: 'healthy', plugins: [{ name: 'greeter', state: 'running' }] } })
  })

  it('refuses an oversized message without buffering it, on the same connection', async () => {
    const big = 'x'.repeat(3 * 1024 * 1024)
    // Sent in pieces with no delimiter until the end: the server must not keep it all.
    const chunks = [...Array.from({ length: 12 }, (_, i) => big.slice(i * 262144, (i + 1) * 262144)), '\f', frame({ id: 2, cmd: 'status' })]
    const replies = await rawReplies(file, chunks, 2)
    assert.equal(replies[0].data.error?.code, 'RIG_ERR_CONTROL_REQUEST')
    assert.match(replies[0].data.error?.message ?? '', /too large/)
    assert.equal(replies[1].data.id, 2)
    assert.equal(replies[1].data.ok, true)
    // A new connection still works too.
    assert.equal(((await request({ app: 'ctl', runtimeDir: ws.runtimeDir }, 'health', {})) as { health: string }).health, 'healthy')
  })

  it('refuses a second supervisor for the same app, naming the socket and the app', async () => {
    const other = await workspace([])
    try {
      await assert.rejects(
        startHost('ctl', { ...other, runtimeDir: ws.runtimeDir }),
        (e) => isOutriggerError(e, 'RIG_ERR_CONTROL_IN_USE') && e.message.includes(file) && e.message.includes('"ctl"'),
      )
      // The first one is untouched.
      assert.equal(((await request({ app: 'ctl', runtimeDir: ws.runtimeDir }, 'health', {})) as { health: string }).health, 'healthy')
    } finally {
      await other.cleanup()
    }
  })
})

describe('stale sockets and ownership', () => {
  let ws: Workspace
  before(async () => {
    ws = await workspace(['greeter'])
  })
  after(() => ws.cleanup())

  it('replaces the socket left by a supervisor that died', async () => {
    ensureRuntimeDir(ws.runtimeDir)
    const file = socketPath('stale', ws.runtimeDir)
    // A process that listens and is SIGKILLed leaves its socket file behind.
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(file)}, () => console.log('up'))`])
    const { out, exited } = collect(child)
    await until('the squatter to listen', () => out().includes('up'))
    child.kill('SIGKILL')
    await exited
    assert.ok(existsSync(file))
    await assert.rejects(request({ app: 'stale', runtimeDir: ws.runtimeDir }, 'status', {}), (e) => isOutriggerError(e, 'RIG_ERR_CONTROL_UNREACHABLE') && e.message.includes(file))
    const sup = await startHost('stale', ws)
    try {
      assert.equal(((await request({ app: 'stale', runtimeDir: ws.runtimeDir }, 'status', {})) as { app: string }).app, 'stale')
    } finally {
      await sup.stop()
    }
    assert.equal(existsSync(file), false, 'stop() removes the socket file')
  })

  it('refuses a runtime folder or a socket owned by another user', async () => {
    const foreign = path.join(ws.root, 'foreign')
    mkdirSync(foreign, { mode: 0o700 })
    chownSync(foreign, 4242, 4242)
    assert.throws(() => ensureRuntimeDir(foreign), (e) => isOutriggerError(e, 'RIG_ERR_CONTROL_IN_USE') && /uid 4242/.test(e.message))

    const sup = await startHost('owned', ws)
    try {
      const file = socketPath('owned', ws.runtimeDir)
      chownSync(file, 4242, 4242)
      await assert.rejects(request({ app: 'owned', runtimeDir: ws.runtimeDir }, 'status', {}), (e) => isOutriggerError(e, 'RIG_ERR_CONTROL_UNREACHABLE') && /uid 4242/.test(e.message))
      chownSync(file, process.getuid!(), process.getgid!())
    } finally {
      await sup.stop()
    }
  })
})
