/**
 * The control socket cannot be locked out by clients that connect and say nothing: idle
 * connections are closed after a few seconds, and at the connection limit the one idle the
 * longest makes room for the newcomer. Real sockets against a real supervisor, and the real CLI.
 */
import assert from 'node:assert/strict'
import net from 'node:net'
import { after, afterEach, before, describe, it } from 'node:test'
import { ControlClient, request } from '../src/control/client.js'
import { CONTROL_IDLE_MS, MAX_CONTROL_CONNECTIONS } from '../src/control/connections.js'
import { startControlServer, type ControlServer } from '../src/control/server.js'
import { socketPath } from '../src/control/socket-path.js'
import type { Supervisor } from '../src/supervisor/types.js'
import { startSupervisor } from '../src/start.js'
import path from 'node:path'
import { rig, startHost, workspace } from './helpers/cli-run.js'
import { until } from './helpers/wait.js'

type Workspace = Awaited<ReturnType<typeof workspace>>

interface Idle {
  socket: net.Socket
  closed: boolean
}

/** Opens `count` connections one after the other; each sends nothing (or what `write` says). */
async function idleClients(file: string, count: number, opened: Idle[] = []): Promise<Idle[]> {
  for (let i = 0; i < count; i++) {
    const socket = net.connect({ path: file })
    const c: Idle = { socket, closed: false }
    socket.on('close', () => (c.closed = true))
    socket.on('error', () => undefined)
    socket.resume()
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    })
    opened.push(c)
  }
  return opened
}

const closedCount = (cs: Idle[]): number => cs.filter((c) => c.closed).length

describe('control socket lock-out', () => {
  let ws: Workspace
  let sup: Supervisor
  const clients: Idle[] = []

  before(async () => {
    ws = await workspace(['greeter'])
    sup = await startHost('lockout', ws)
  })
  after(async () => {
    for (const c of clients) c.socket.destroy()
    await sup.stop()
    await ws.cleanup()
  })

  it('`outrigger health` answers while 200 idle clients are connected, and the idle ones are closed within seconds', async () => {
    assert.ok(CONTROL_IDLE_MS <= 10_000, 'a few seconds')
    const file = socketPath('lockout', ws.runtimeDir)
    await idleClients(file, 200, clients)
    const r = await rig(['--app', 'lockout', 'health'], { runtimeDir: ws.runtimeDir })
    assert.equal(r.code, 0, `exit ${r.code}: ${r.stdout}${r.stderr}`)
    assert.match(r.stdout, /healthy/)
    // At most the limit stayed open, and the idle timeout closes the rest: none is left.
    await until('every idle client to be closed', () => closedCount(clients) === clients.length, CONTROL_IDLE_MS + 10_000)
    assert.equal(((await request({ app: 'lockout', runtimeDir: ws.runtimeDir }, 'health', {})) as { health: string }).health, 'healthy')
  })
})

describe('control connections', () => {
  let ws: Workspace
  let sup: Supervisor
  let server: ControlServer | undefined
  const clients: Idle[] = []

  before(async () => {
    ws = await workspace(['greeter'])
    sup = await startSupervisor({ app: 'conn', pluginsDir: ws.enabled, stateDir: path.join(ws.root, 'state'), store: 'memory', http: false, control: false, config: { logLevel: 'silent' } })
  })
  afterEach(async () => {
    for (const c of clients.splice(0)) c.socket.destroy()
    await server?.close()
    server = undefined
  })
  after(async () => {
    await sup.stop()
    await ws.cleanup()
  })

  it('at the limit, closes the connection idle the longest, oldest first, and serves the newcomer', async () => {
    server = await startControlServer(sup, { app: 'conn', runtimeDir: ws.runtimeDir, idleTimeoutMs: 120_000 })
    const max = MAX_CONTROL_CONNECTIONS
    await idleClients(server.path, 200, clients)
    await until(`${200 - max} connections to be closed`, () => closedCount(clients) === 200 - max)
    // Exactly the first ones to connect were dropped; the newest `max` are still open.
    assert.deepEqual(
      clients.map((c) => c.closed),
      clients.map((_, i) => i < 200 - max),
    )
    // A client that makes a request now is served, and the oldest remaining idle one makes room.
    const target = { app: 'conn', runtimeDir: ws.runtimeDir }
    assert.equal(((await request(target, 'health', {})) as { health: string }).health, 'healthy')
    await until('the next oldest to be closed', () => clients[200 - max]!.closed)
    assert.equal(closedCount(clients), 200 - max + 1)
  })

  it('keeps a connection that talks, over idle ones that are older', async () => {
    server = await startControlServer(sup, { app: 'conn', runtimeDir: ws.runtimeDir, maxConnections: 4, idleTimeoutMs: 120_000 })
    const talker = await ControlClient.connect({ app: 'conn', runtimeDir: ws.runtimeDir })
    try {
      await idleClients(server.path, 3, clients)
      // The talker connected first, but has just sent a frame: the idle ones are older now.
      assert.equal(((await talker.request('health', {})) as { health: string }).health, 'healthy')
      await idleClients(server.path, 2, clients)
      await until('two idle connections to be closed', () => closedCount(clients) === 2)
      assert.deepEqual(clients.map((c) => c.closed), [true, true, false, false, false])
      assert.equal(((await talker.request('health', {})) as { health: string }).health, 'healthy')
    } finally {
      talker.close()
    }
  })

  it('closes a connection that sends no complete frame in time: silent, dripping bytes, or done talking', async () => {
    const idleTimeoutMs = 300
    server = await startControlServer(sup, { app: 'conn', runtimeDir: ws.runtimeDir, idleTimeoutMs })
    const [silent, dripping] = await idleClients(server.path, 2, clients)
    // A frame that never ends, one byte at a time, faster than the timeout.
    const drip = setInterval(() => dripping!.socket.write('{'), idleTimeoutMs / 6)
    try {
      await until('the silent and the dripping client to be closed', () => silent!.closed && dripping!.closed, 10_000)
    } finally {
      clearInterval(drip)
    }
    // A client that made requests is answered, then closed once it stays quiet.
    const client = await ControlClient.connect({ app: 'conn', runtimeDir: ws.runtimeDir })
    for (let i = 0; i < 3; i++) assert.equal(((await client.request('health', {})) as { health: string }).health, 'healthy')
    await until('the quiet client to be closed', () => !client.isOpen, 10_000)
    client.close()
  })
})
