import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { startSupervisor } from '../src/start.js'
import type { Supervisor } from '../src/supervisor/types.js'
import { HTTP_FIXTURES } from './helpers/http-host.js'
import { until } from './helpers/wait.js'
import { WsClient } from './helpers/ws-client.js'

const WS_PLUGIN = fileURLToPath(new URL('../../plugins/available/ws-protocol', import.meta.url))
const MAX_BUFFERED = 256 * 1024
const MAX_IN_FLIGHT = 8

const GATE = `
const g = globalThis.__gate = { running: 0, most: 0, open: false, waiting: [] }
export default {
  controllers: {
    gate: {
      async wait() {
        g.running++
        g.most = Math.max(g.most, g.running)
        if (!g.open) await new Promise((resolve) => g.waiting.push(resolve))
        g.running--
        return 'through'
      },
    },
  },
  functions: {
    open() {
      g.open = true
      for (const resolve of g.waiting.splice(0)) resolve()
    },
    seen: () => ({ running: g.running, most: g.most }),
  },
}
`

interface Host {
  sup: Supervisor
  httpUrl: string
  wsUrl: string
  stop(): Promise<void>
}

/** A real host: the shipped ws-protocol plugin beside the HTTP fixtures (auth by x-user, a shop). */
async function startHost(): Promise<Host> {
  const root = await mkdtemp(path.join(tmpdir(), 'outrigger-ws-'))
  const enabled = path.join(root, 'enabled')
  await mkdir(enabled)
  await symlink(WS_PLUGIN, path.join(enabled, 'ws-protocol'), 'dir')
  for (const p of ['gatekeeper', 'shop']) await symlink(path.join(HTTP_FIXTURES, p), path.join(enabled, p), 'dir')
  // An action that holds every call until the test opens the gate, counting how many run at once.
  await mkdir(path.join(enabled, 'gate'))
  await writeFile(path.join(root, 'package.json'), '{"type":"module"}\n')
  await writeFile(path.join(enabled, 'gate', 'manifest.json'), JSON.stringify({ name: 'gate', version: '1.0.0', type: 'core' }))
  await writeFile(path.join(enabled, 'gate', 'index.js'), GATE)
  const sup = (await startSupervisor({
    app: `ws-test-${path.basename(root)}`,
    pluginsDir: enabled,
    stateDir: path.join(root, 'state'),
    store: 'memory',
    control: false,
    http: { port: 0 },
    config: { logLevel: 'silent', plugins: { 'ws-protocol': { options: { port: 0, maxBufferedBytes: MAX_BUFFERED, maxInFlight: MAX_IN_FLIGHT, closeGraceMs: 60_000 } } } },
  })) as Supervisor & { httpUrl: string }
  const { port } = await sup.call<{ port: number }>('ws-protocol.address')
  return {
    sup,
    httpUrl: sup.httpUrl,
    wsUrl: `ws://127.0.0.1:${port}`,
    async stop() {
      await sup.stop()
      await rm(root, { recursive: true, force: true })
    },
  }
}

describe('ws-protocol: controller actions and events over WebSocket', () => {
  let host: Host
  const clients: WsClient[] = []
  const open = async (user?: string) => {
    const c = await WsClient.open(host.wsUrl, user ? { 'x-user': user } : {})
    clients.push(c)
    return c
  }

  before(async () => {
    host = await startHost()
  })
  after(async () => {
    for (const c of clients) c.close()
    await host?.stop()
  })

  it('answers a request frame through ctx.execute with the envelope HTTP answers, good and bad', async () => {
    const alice = await open('alice')
    const guest = await open('guest')
    const nobody = await open()
    const cases = [
      { client: alice, user: 'alice', controller: 'shop/items', action: 'create', body: { name: 'lamp' }, status: 200 },
      { client: alice, user: 'alice', controller: 'shop/items', action: 'create', body: { name: 'duplicate' }, status: 409 },
      { client: alice, user: 'alice', controller: 'shop/nothing', action: 'list', status: 404 },
      { client: alice, user: 'alice', controller: 'shop/items', action: 'broken', status: 500 },
      { client: guest, user: 'guest', controller: 'shop/items', action: 'create', body: { name: 'lamp' }, status: 403 },
      { client: nobody, user: undefined, controller: 'shop/items', action: 'whoami', status: 401 },
    ]
    for (const [i, c] of cases.entries()) {
      const requestId = `ws-${i}`
      const env = await c.client.request({ requestId, controller: c.controller, action: c.action, body: c.body })
      const headers: Record<string, string> = { 'x-request-id': requestId, 'content-type': 'application/json' }
      if (c.user) headers['x-user'] = c.user
      const res = await fetch(`${host.httpUrl}/_/${c.controller}/${c.action}`, { method: 'POST', headers, body: JSON.stringify(c.body ?? null) })
      assert.equal(env.status, c.status, `${c.controller}:${c.action}`)
      assert.deepEqual(env, await res.json(), `${c.controller}:${c.action}`)
    }
    // The credentials are the upgrade request's: the action sees who connected.
    assert.deepEqual((await alice.request({ controller: 'shop/items', action: 'whoami' })).result, { user: { name: 'alice' } })
  })

  it('sends subscribed events, and only those, until the client unsubscribes', async () => {
    const c = await open('alice')
    const ack = await c.request({ subscribe: 'orders:*' })
    assert.deepEqual([ack.status, ack.controller, ack.action, ack.result], [200, 'ws-protocol/realtime', 'subscribe', { subscribed: 'orders:*' }])
    host.sup.emit('orders:create', { id: 1 })
    host.sup.emit('stock:low', { item: 'gadget' })
    host.sup.emit('orders:cancel', { id: 1 })
    await c.next('the cancel event', (f) => f.event === 'orders:cancel')
    assert.deepEqual(c.frames.filter((f) => f.event), [
      { event: 'orders:create', subscription: 'orders:*', payload: { id: 1 } },
      { event: 'orders:cancel', subscription: 'orders:*', payload: { id: 1 } },
    ])
    const gone = await c.request({ unsubscribe: 'orders:*' })
    assert.deepEqual(gone.result, { unsubscribed: 'orders:*' })
    await c.request({ subscribe: 'marker:*' })
    host.sup.emit('orders:create', { id: 2 })
    host.sup.emit('marker:done', {})
    await c.next('the marker', (f) => f.event === 'marker:done')
    assert.equal(c.frames.filter((f) => f.event === 'orders:create').length, 1, 'nothing after unsubscribing')

    const bad = await c.request({ subscribe: 'orders:create; drop table' })
    assert.deepEqual([bad.status, bad.error.code], [400, 'RIG_ERR_REQUEST_INVALID'])
    assert.match(bad.error.message, /an event pattern such as "orders:\*"/)

    // Subscribing passes the auth slot like any action: a client that did not say who it is hears nothing.
    const stranger = await open()
    const refused = await stranger.request({ subscribe: 'orders:*' })
    assert.deepEqual([refused.status, refused.error.code, refused.controller], [401, 'RIG_ERR_HTTP_UNAUTHORIZED', 'ws-protocol/realtime'])
    assert.equal((await c.request({ subscribe: 'orders:*' })).status, 200)
    host.sup.emit('orders:create', { id: 3 })
    await c.next('the third order at the subscribed client', (f) => f.event === 'orders:create' && f.payload.id === 3)
    assert.equal(stranger.frames.filter((f) => f.event).length, 0)
  })

  it('answers garbage, unknown controllers and odd frames with error frames, and closes on binary or oversized frames', async () => {
    const c = await open('alice')
    for (const [frame, message] of [
      ['{not json', /not valid JSON/],
      ['[1,2]', /found an array/],
      ['42', /a frame is a JSON object/],
      [{ controller: 'items', action: 'list' }, /"controller" must be "<plugin>\/<controller>"/],
    ] as const) {
      c.send(frame)
      const err = await c.next(`the error frame for ${String(frame)}`, (f) => f.error?.message && message.test(f.error.message))
      assert.deepEqual([err.status, err.error.code], [400, 'RIG_ERR_REQUEST_INVALID'])
    }
    const unknown = await c.request({ controller: 'nobody/items', action: 'list' })
    assert.deepEqual([unknown.status, unknown.error.code, unknown.controller], [404, 'RIG_ERR_UNKNOWN_TARGET', 'nobody/items'])
    assert.equal((await c.request({ controller: 'shop/items', action: 'list' })).status, 200, 'the connection still serves')

    const binary = await open('alice')
    binary.send(Buffer.from([1, 2, 3]))
    assert.deepEqual(await binary.whenClosed(), { code: 1003, reason: 'binary frames are not accepted: send JSON text frames' })

    const big = await open('alice')
    big.send(JSON.stringify({ controller: 'shop/items', action: 'create', body: { name: 'x'.repeat(1024 * 1024) } }))
    assert.equal((await big.whenClosed()).code, 1009, 'a frame over 1 MiB: message too big')

    const after = await open('alice')
    assert.equal((await after.request({ controller: 'shop/items', action: 'list' })).status, 200, 'the host is unharmed')
    assert.equal(host.sup.status().plugins.find((p) => p.name === 'ws-protocol')?.state, 'running')
  })

  it('stops reading a client past maxInFlight requests at once, and answers them all once they settle', async () => {
    const c = await open('alice')
    const N = 100
    for (let i = 0; i < N; i++) c.send({ requestId: `g${i}`, controller: 'gate/gate', action: 'wait' })
    await until('maxInFlight calls to be held at the gate', async () => (await host.sup.call<{ running: number }>('gate.seen')).running === MAX_IN_FLIGHT)
    await host.sup.call('gate.open')
    await until('every request to be answered', () => c.frames.filter((f) => f.result === 'through').length === N, 30_000)
    assert.equal((await host.sup.call<{ most: number }>('gate.seen')).most, MAX_IN_FLIGHT, 'never more than maxInFlight of its requests at once')
  })

  it('cuts off a slow consumer with a close reason while the host RSS stays bounded, and keeps serving a reading one', async () => {
    const slow = await open('alice')
    const fast = await open('alice')
    await slow.request({ subscribe: 'flood:*' })
    await fast.request({ subscribe: 'flood:*' })
    // The slow client stops reading: its socket's kernel buffers fill, then the host's own.
    slow.ws.pause()
    const payload = { blob: 'z'.repeat(64 * 1024) }
    const EVENTS = 2048 // 128 MiB to each client: far more than the bound lets the host hold
    const base = process.memoryUsage().rss
    let peak = base
    for (let i = 0; i < EVENTS; i += 32) {
      for (let j = i; j < i + 32; j++) host.sup.emit(`flood:${j}`, payload)
      // Pace the flood to the reading client, so it is never the slow one.
      await until(`the reading client to get event ${i + 31}`, () => fast.frames.some((f) => f.event === `flood:${i + 31}`), 30_000)
      fast.frames.length = 0
      peak = Math.max(peak, process.memoryUsage().rss)
    }
    const stats = await host.sup.call<{ cutOff: number }>('ws-protocol.stats')
    assert.equal(stats.cutOff, 1, 'only the slow client was cut off')
    const grewMb = (peak - base) / 2 ** 20
    assert.ok(grewMb < 64, `the host's RSS grew by ${grewMb.toFixed(1)} MiB while 128 MiB went to a client that does not read`)
    // Reading again, the slow client gets what was buffered, then the close frame with its reason.
    slow.ws.resume()
    const closed = await slow.whenClosed(30_000)
    assert.equal(closed.code, 1008)
    assert.match(closed.reason, /^slow consumer: more than 262144 bytes waiting to be sent/)
    assert.ok(slow.bytes < 32 * 2 ** 20, `the slow client got ${slow.bytes} bytes before the cut, not the whole flood`)
    assert.equal(fast.closed, undefined)
    assert.equal((await fast.request({ controller: 'shop/items', action: 'list' })).status, 200)
  })

  it('closes its clients with 1001 when the host stops, and the port with them', async () => {
    const c = await open('alice')
    const { port } = await host.sup.call<{ port: number }>('ws-protocol.address')
    await host.sup.stop()
    assert.deepEqual(await c.whenClosed(), { code: 1001, reason: 'the host is stopping' })
    await assert.rejects(WsClient.open(`ws://127.0.0.1:${port}`), /ECONNREFUSED/)
  })
})
