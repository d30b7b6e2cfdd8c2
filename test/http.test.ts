import assert from 'node:assert/strict'
import http from 'node:http'
import net from 'node:net'
import { after, before, describe, it } from 'node:test'
import { defaultAuth, defaultPermission } from '../src/services/slots.js'
import { createMetrics } from '../src/metrics/metrics.js'
import type { StatusReport } from '../src/supervisor/status-types.js'
import type { Supervisor } from '../src/supervisor/types.js'
import { startHttpHost, type HttpHost } from './helpers/http-host.js'
import { until } from './helpers/wait.js'
import { parseProm, valueOf } from './helpers/prom-text.js'

const MAX_BODY = 1024
const TIMEOUT_MS = 300

interface Envelope {
  requestId: string
  status: number
  error: { code: string; message: string } | null
  controller: string | null
  action: string | null
  result: unknown
}

async function call(url: string, init: RequestInit & { user?: string } = {}): Promise<{ res: Response; body: Envelope }> {
  const headers = new Headers(init.headers)
  if (init.user) headers.set('x-user', init.user)
  const res = await fetch(url, { ...init, headers })
  return { res, body: (await res.json()) as Envelope }
}

function assertEnvelope(body: Envelope, status: number, code: string | null, target: { controller: string | null; action: string | null }): void {
  assert.deepEqual(Object.keys(body).sort(), ['action', 'controller', 'error', 'requestId', 'result', 'status'])
  assert.equal(typeof body.requestId, 'string')
  assert.ok(body.requestId.length > 0)
  assert.equal(body.status, status)
  assert.equal(body.controller, target.controller)
  assert.equal(body.action, target.action)
  if (code === null) {
    assert.equal(body.error, null)
  } else {
    assert.deepEqual(Object.keys(body.error ?? {}).sort(), ['code', 'message'])
    assert.equal(body.error?.code, code)
    assert.equal(body.result, null)
  }
}

/** Sends raw bytes and collects everything until the server closes the connection. */
function rawExchange(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes))
    let got = ''
    socket.setEncoding('utf8')
    socket.on('data', (d: string) => (got += d))
    socket.on('error', reject)
    socket.on('close', () => resolve(got))
  })
}

function splitRaw(raw: string): { status: number; body: Envelope } {
  const [head, body] = raw.split('\r\n\r\n') as [string, string]
  return { status: Number(head.split(' ')[1]), body: JSON.parse(body) as Envelope }
}

const items = { controller: 'shop/items', action: 'create' }

describe('HTTP API, behind a plugin that replaces the auth and permission slots', () => {
  let host: HttpHost
  const as = (user: string | undefined, path: string, init: RequestInit = {}) => call(host.url + path, { ...init, user })

  before(async () => {
    host = await startHttpHost(['gatekeeper', 'shop'], { maxBodyBytes: MAX_BODY, requestTimeoutMs: TIMEOUT_MS })
  })
  after(() => host?.stop())

  it('GET /_health answers the health and each plugin state, without credentials', async () => {
    const res = await fetch(host.url + '/_health')
    assert.equal(res.status, 200)
    const body = (await res.json()) as { health: string; plugins: Array<{ name: string; state: string }> }
    assert.deepEqual(Object.keys(body).sort(), ['health', 'plugins'])
    assert.ok(['healthy', 'degraded'].includes(body.health))
    assert.deepEqual(body.plugins.map((p) => p.name).sort(), ['gatekeeper', 'shop'])
    for (const p of body.plugins) assert.deepEqual(Object.keys(p).sort(), ['name', 'state'])
  })

  it('GET /_status answers the status report', async () => {
    const res = await fetch(host.url + '/_status', { headers: { 'x-user': 'ops' } })
    assert.equal(res.status, 200)
    const body = (await res.json()) as StatusReport
    assert.equal(body.app, host.sup.app)
    assert.equal(body.state, 'running')
    const shop = body.plugins.find((p) => p.name === 'shop')
    assert.equal(shop?.version, '1.2.3')
    assert.deepEqual(shop?.controllers.sort(), ['items/bigint', 'items/broken', 'items/create', 'items/list', 'items/plain', 'items/teapot', 'items/whoami'])
  })

  it('GET /_info lists versions, what each plugin registers, and every route', async () => {
    const res = await fetch(host.url + '/_info', { headers: { 'x-user': 'ops' } })
    assert.equal(res.status, 200)
    const info = (await res.json()) as {
      version: string
      plugins: Array<{ name: string; version: string; hooks: string[]; pipes: string[]; controllers: string[]; functions: string[] }>
      routes: Array<{ methods: string[]; path: string }>
    }
    assert.equal(info.version, host.sup.status().version)
    const shop = info.plugins.find((p) => p.name === 'shop')
    assert.equal(shop?.version, '1.2.3')
    assert.deepEqual(shop?.hooks, ['shop:tick'])
    assert.deepEqual(shop?.pipes, ['shop/items:beforeCreate'])
    assert.deepEqual(shop?.functions, ['ping'])
    assert.ok(shop?.controllers.includes('items/create'))
    const paths = info.routes.map((r) => r.path)
    for (const p of ['/_health', '/_status', '/_info', '/metrics', '/_/shop/items/create', '/_/shop/items/whoami']) assert.ok(paths.includes(p), p)
    assert.deepEqual(info.routes.find((r) => r.path === '/_/shop/items/create')?.methods, ['GET', 'POST'])
  })

  it('POST runs an action and answers the envelope, keeping a client-chosen request id', async () => {
    const { res, body } = await as('alice', '/_/shop/items/create', { method: 'POST', body: JSON.stringify({ name: 'kayak' }), headers: { 'x-request-id': 'trace-42' } })
    assert.equal(res.status, 200)
    assertEnvelope(body, 200, null, items)
    assert.equal(body.requestId, 'trace-42')
    assert.equal(res.headers.get('x-request-id'), 'trace-42')
    assert.deepEqual(body.result, { created: { name: 'kayak' } })
  })

  it('GET runs an action with the query string and the user the auth slot returned', async () => {
    const list = await as('alice', '/_/shop/items/list?color=red&size=2')
    assertEnvelope(list.body, 200, null, { controller: 'shop/items', action: 'list' })
    assert.deepEqual(list.body.result, { query: { color: 'red', size: '2' }, body: null })
    const who = await as('alice', '/_/shop/items/whoami')
    assert.deepEqual(who.body.result, { user: { name: 'alice' } })
  })

  it('401 when the auth slot refuses', async () => {
    const { res, body } = await as(undefined, '/_/shop/items/list')
    assert.equal(res.status, 401)
    assertEnvelope(body, 401, 'RIG_ERR_HTTP_UNAUTHORIZED', { controller: 'shop/items', action: 'list' })
    assert.match(body.error!.message, /who are you/)
    assert.equal(res.headers.get('www-authenticate'), 'Bearer')
    assert.equal((await fetch(host.url + '/_status')).status, 401)
    assert.equal((await fetch(host.url + '/metrics')).status, 401)
  })

  it('403 when the permission slot refuses', async () => {
    const { res, body } = await as('guest', '/_/shop/items/create', { method: 'POST', body: '{"name":"x"}' })
    assert.equal(res.status, 403)
    assertEnvelope(body, 403, 'RIG_ERR_HTTP_FORBIDDEN', items)
    assert.equal((await as('guest', '/_/shop/items/list')).res.status, 200)
  })

  it('a before-pipe refusal answers 4xx with the plugin message (its own status when it sets one)', async () => {
    const bare = await as('alice', '/_/shop/items/create', { method: 'POST', body: '{}' })
    assert.equal(bare.res.status, 400)
    assertEnvelope(bare.body, 400, 'RIG_ERR_PIPE_ABORTED', items)
    assert.equal(bare.body.error!.message, 'an item needs a "name" string')
    const dup = await as('alice', '/_/shop/items/create', { method: 'POST', body: '{"name":"duplicate"}' })
    assert.equal(dup.res.status, 409)
    assertEnvelope(dup.body, 409, 'RIG_ERR_PIPE_ABORTED', items)
    assert.equal(dup.body.error!.message, 'an item named "duplicate" already exists')
  })

  it('an action that throws answers 500 with its code, or its own 4xx status', async () => {
    const broken = await as('alice', '/_/shop/items/broken')
    assert.equal(broken.res.status, 500)
    assertEnvelope(broken.body, 500, 'SHOP_SHELF_COLLAPSED', { controller: 'shop/items', action: 'broken' })
    assert.equal(broken.body.error!.message, 'the shelf collapsed')
    const teapot = await as('alice', '/_/shop/items/teapot')
    assert.equal(teapot.res.status, 418)
    assert.equal(teapot.body.error!.message, 'short and stout')
  })

  it('an error without a code answers 500 RIG_ERR_HTTP_INTERNAL; a result that is not JSON, RIG_ERR_HTTP_RESULT_NOT_JSON', async () => {
    const plain = await as('alice', '/_/shop/items/plain')
    assertEnvelope(plain.body, 500, 'RIG_ERR_HTTP_INTERNAL', { controller: 'shop/items', action: 'plain' })
    assert.equal(plain.body.error!.message, 'no code on this one')
    const big = await as('alice', '/_/shop/items/bigint')
    assert.equal(big.res.status, 500)
    assert.equal(big.body.error!.code, 'RIG_ERR_HTTP_RESULT_NOT_JSON')
  })

  it('431 on oversized headers', async () => {
    const { status, body } = splitRaw(await rawExchange(Number(new URL(host.url).port), `GET /_health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20000)}\r\n\r\n`))
    assert.equal(status, 431)
    assert.equal(body.error!.code, 'RIG_ERR_HTTP_HEADERS_TOO_LARGE')
  })

  it('400 on malformed JSON', async () => {
    const { res, body } = await as('alice', '/_/shop/items/create', { method: 'POST', body: '{"name": "kay' })
    assert.equal(res.status, 400)
    assertEnvelope(body, 400, 'RIG_ERR_HTTP_MALFORMED_JSON', items)
  })

  it('413 on a body over maxBodyBytes, announced or streamed, and the server keeps serving', async () => {
    const announced = await as('alice', '/_/shop/items/create', { method: 'POST', body: JSON.stringify({ name: 'x'.repeat(MAX_BODY) }) })
    assert.equal(announced.res.status, 413)
    assertEnvelope(announced.body, 413, 'RIG_ERR_HTTP_BODY_TOO_LARGE', items)

    // Chunked, with no content-length: the limit must bite while reading, not after.
    const streamed = await new Promise<{ status: number; body: Envelope }>((resolve, reject) => {
      const req = http.request(host.url + '/_/shop/items/create', { method: 'POST', headers: { 'x-user': 'alice' } }, (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => (text += d))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Envelope }))
      })
      req.on('error', reject)
      for (let i = 0; i < 8; i++) req.write('{"pad":"' + 'y'.repeat(MAX_BODY) + '",')
      req.end('"name":"late"}')
    })
    assert.equal(streamed.status, 413)
    assertEnvelope(streamed.body, 413, 'RIG_ERR_HTTP_BODY_TOO_LARGE', items)

    assert.equal((await as('alice', '/_/shop/items/list')).res.status, 200)
  })

  it('404 on an unknown plugin, controller or action, and on an unknown route', async () => {
    // What every object inherits is no action: Object.keys through the constructor, hasOwnProperty.
    const inherited = ['/_/shop/constructor/keys', '/_/shop/items/constructor', '/_/shop/items/hasOwnProperty']
    for (const path of ['/_/nobody/items/list', '/_/shop/nothing/list', '/_/shop/items/nothing', '/_/gatekeeper/x/y', ...inherited]) {
      const { res, body } = await as('alice', path)
      assert.equal(res.status, 404, path)
      assertEnvelope(body, 404, 'RIG_ERR_UNKNOWN_TARGET', { controller: `${path.split('/')[2]}/${path.split('/')[3]}`, action: path.split('/')[4]! })
    }
    for (const path of ['/', '/nope', '/_/shop/items', '/_/shop/items/list/extra']) {
      const { res, body } = await as('alice', path)
      assert.equal(res.status, 404, path)
      assertEnvelope(body, 404, 'RIG_ERR_HTTP_NOT_FOUND', { controller: null, action: null })
    }
  })

  it('405 on a wrong method, naming the allowed ones', async () => {
    const del = await as('alice', '/_/shop/items/list', { method: 'DELETE' })
    assert.equal(del.res.status, 405)
    assert.equal(del.res.headers.get('allow'), 'GET, POST')
    assertEnvelope(del.body, 405, 'RIG_ERR_HTTP_METHOD_NOT_ALLOWED', { controller: null, action: null })
    const post = await as('alice', '/_status', { method: 'POST', body: '{}' })
    assert.equal(post.res.status, 405)
    assert.equal(post.res.headers.get('allow'), 'GET')
  })

  it('408 for a client too slow with its headers or its body, and the server keeps serving', async () => {
    const port = Number(new URL(host.url).port)
    const headers = splitRaw(await rawExchange(port, 'GET /_status HTTP/1.1\r\nHost: x\r\nx-user: slow'))
    assert.equal(headers.status, 408)
    assertEnvelope(headers.body, 408, 'RIG_ERR_HTTP_TIMEOUT', { controller: null, action: null })
    const body = splitRaw(
      await rawExchange(port, 'POST /_/shop/items/create HTTP/1.1\r\nHost: x\r\nx-user: slow\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{"name":'),
    )
    assert.equal(body.status, 408)
    assertEnvelope(body.body, 408, 'RIG_ERR_HTTP_TIMEOUT', items)
    assert.equal((await as('alice', '/_/shop/items/list')).res.status, 200)
  })

  it('400 for a request that is not HTTP', async () => {
    const { status, body } = splitRaw(await rawExchange(Number(new URL(host.url).port), 'HELLO THERE\r\n\r\n'))
    assert.equal(status, 400)
    assertEnvelope(body, 400, 'RIG_ERR_HTTP_BAD_REQUEST', { controller: null, action: null })
  })

  it('/metrics counters match /_status after a known number of events', async () => {
    const N = 25
    const before = host.sup.status().plugins.find((p) => p.name === 'shop')!.events.processed
    for (let i = 0; i < N; i++) host.sup.emit('shop:tick', { i })
    await until('the shop hook to process the ticks', () => host.sup.status().plugins.find((p) => p.name === 'shop')!.events.processed >= before + N)

    const status = (await (await fetch(host.url + '/_status', { headers: { 'x-user': 'ops' } })).json()) as StatusReport
    const res = await fetch(host.url + '/metrics', { headers: { 'x-user': 'ops' } })
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/)
    const prom = parseProm(await res.text())
    const shop = status.plugins.find((p) => p.name === 'shop')!
    assert.equal(shop.events.processed, before + N)
    const expect: Record<string, number> = {
      outrigger_events_received_total: shop.events.received,
      outrigger_events_processed_total: shop.events.processed,
      outrigger_events_failed_total: shop.events.failed,
      outrigger_events_dropped_total: shop.queue.dropped,
      outrigger_events_rejected_total: shop.queue.rejected,
      outrigger_events_lost_total: shop.events.lost,
      outrigger_events_redelivered_total: shop.events.redelivered,
      outrigger_events_dead_lettered_total: shop.events.deadLettered,
      outrigger_restarts_total: shop.restarts,
      outrigger_queue_depth: shop.queue.depth,
    }
    for (const [name, value] of Object.entries(expect)) {
      assert.equal(valueOf(prom, name, { plugin: 'shop' }), value, name)
      assert.equal(prom.types.get(name), name.endsWith('_total') ? 'counter' : 'gauge', name)
    }
    assert.equal(valueOf(prom, 'outrigger_plugin_state', { plugin: 'shop', state: shop.state }), 1)
    assert.equal(valueOf(prom, 'outrigger_health', { health: status.health }), 1)
    assert.equal(prom.types.get('outrigger_handler_duration_seconds'), 'histogram')
    assert.ok(valueOf(prom, 'outrigger_host_eventloop_delay_p99_seconds')! >= 0)
    for (const s of prom.samples) assert.ok(s.name.startsWith('outrigger_'), s.name)
  })
})

describe('HTTP API with the default slots', () => {
  it('with http.token set, requires the bearer token (health stays open)', async () => {
    const host = await startHttpHost(['shop'], { token: 's3cret' })
    try {
      const none = await call(host.url + '/_/shop/items/list')
      assert.equal(none.res.status, 401)
      assertEnvelope(none.body, 401, 'RIG_ERR_HTTP_UNAUTHORIZED', { controller: 'shop/items', action: 'list' })
      const wrong = await call(host.url + '/_/shop/items/list', { headers: { authorization: 'Bearer nope' } })
      assert.equal(wrong.res.status, 401)
      const right = await call(host.url + '/_/shop/items/whoami', { headers: { authorization: 'Bearer s3cret' } })
      assert.equal(right.res.status, 200)
      assert.deepEqual(right.body.result, { user: { kind: 'token' } })
      assert.equal((await fetch(host.url + '/_health')).status, 200)
      assert.equal((await fetch(host.url + '/metrics', { headers: { authorization: 'Bearer s3cret' } })).status, 200)
    } finally {
      await host.stop()
    }
  })

  it('without a token, serves loopback callers and refuses others with a 401', async () => {
    const auth = defaultAuth({ host: '0.0.0.0', port: 0, maxBodyBytes: 1, requestTimeoutMs: 1, actionTimeoutMs: 1 })
    for (const addr of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1']) assert.deepEqual(auth({ headers: {}, remoteAddress: addr }), { kind: 'loopback' }, addr)
    for (const addr of ['10.0.0.1', '::ffff:192.168.1.2', 'fe80::1', undefined]) {
      assert.throws(() => auth({ headers: {}, remoteAddress: addr }), (err: Error & { status?: number }) => err.status === 401, String(addr))
    }
    assert.equal(await defaultPermission({}, { plugin: 'a', controller: 'b', action: 'c' }), true)
  })
})

describe('HTTP API with a worker plugin', () => {
  it('/metrics mirrors the worker plugin counters in /_status after a known number of events', async () => {
    const host = await startHttpHost(['shop', 'tally'])
    try {
      const tally = () => host.sup.status().plugins.find((p) => p.name === 'tally')!
      await until('the tally worker to run', () => tally().state === 'running')
      const N = 30
      for (let n = 1; n <= N; n++) host.sup.emit('tally:add', { n })
      await until('the worker to settle every event', () => tally().events.processed + tally().events.failed === N)

      const status = (await (await fetch(host.url + '/_status')).json()) as StatusReport
      const prom = parseProm(await (await fetch(host.url + '/metrics')).text())
      const w = status.plugins.find((p) => p.name === 'tally')!
      assert.equal(w.events.processed, 20)
      assert.equal(w.events.failed, 10)
      const { events: e, queue: q } = w
      assert.equal(e.received, e.processed + e.failed + e.inFlight + q.depth + q.dropped + q.rejected + e.lost + e.deadLettered)
      const expect: Record<string, number> = {
        outrigger_events_received_total: e.received,
        outrigger_events_processed_total: e.processed,
        outrigger_events_failed_total: e.failed,
        outrigger_events_dropped_total: q.dropped,
        outrigger_events_rejected_total: q.rejected,
        outrigger_events_lost_total: e.lost,
        outrigger_events_redelivered_total: e.redelivered,
        outrigger_events_dead_lettered_total: e.deadLettered,
        outrigger_events_in_flight: e.inFlight,
        outrigger_queue_depth: q.depth,
        outrigger_queue_max: q.max,
        outrigger_restarts_total: w.restarts,
      }
      for (const [name, value] of Object.entries(expect)) assert.equal(valueOf(prom, name, { plugin: 'tally' }), value, name)
      assert.equal(valueOf(prom, 'outrigger_events_received_total', { plugin: 'tally' }), N)
      assert.equal(valueOf(prom, 'outrigger_handler_duration_seconds_count', { plugin: 'tally' }), N, 'every handled event is in the histogram')
      for (const i of w.instances) {
        assert.equal(valueOf(prom, 'outrigger_instance_memory_bytes', { plugin: 'tally', instance: String(i.id) }), i.memoryMb * 1024 * 1024)
      }
    } finally {
      await host.stop()
    }
  })
})

describe('metrics', () => {
  it('keeps counters monotone when a status total goes down, and feeds the handler histogram', async () => {
    let received = 5
    const report = (): StatusReport =>
      ({
        app: 'm', version: '0', pid: 1, uptimeMs: 1, state: 'running', health: 'healthy',
        eventLoop: { p50Ms: 1, p99Ms: 2, maxMs: 3, utilization: 0.5 },
        memory: { rssMb: 1, heapUsedMb: 1 },
        logs: { dropped: 0 },
        plugins: [{
          name: 'w', version: '1.0.0', type: 'worker', isolation: 'thread', delivery: 'at-least-once', state: 'running',
          hooks: [], pipes: [], controllers: [], functions: [], shadowed: [], restarts: 0, lastError: null,
          queue: { depth: 2, max: 10, dropped: 0, rejected: 0 },
          events: { received, processed: 0, failed: 0, inFlight: 0, redelivered: 0, recovered: 0, deadLettered: 0, lost: 0 },
          handlerMs: { p50: 4, p99: 8 },
          instances: [{ id: 0, pid: 1, threadId: 1, state: 'running', uptimeMs: 1, restarts: 0, memoryMb: 2, heapMb: 1, externalMb: 1, eventLoopP99Ms: 0, lastHeartbeatMs: 0 }],
        }],
      }) as StatusReport
    const metrics = createMetrics({ status: report } as unknown as Supervisor, { defaultMetrics: false })
    const read = async () => parseProm(await metrics.render())
    assert.equal(valueOf(await read(), 'outrigger_events_received_total', { plugin: 'w' }), 5)
    received = 8
    assert.equal(valueOf(await read(), 'outrigger_events_received_total', { plugin: 'w' }), 8)
    received = 3 // the plugin began counting anew
    const after = await read()
    assert.equal(valueOf(after, 'outrigger_events_received_total', { plugin: 'w' }), 11)
    assert.equal(valueOf(after, 'outrigger_instance_memory_bytes', { plugin: 'w', instance: '0' }), 2 * 1024 * 1024)
    assert.equal(valueOf(after, 'outrigger_handler_duration_status_seconds', { plugin: 'w', quantile: '0.99' }), undefined, 'quantiles come from the histogram')
    metrics.observeHandler('w', 3)
    metrics.observeHandler('w', 30)
    const hist = await read()
    assert.equal(valueOf(hist, 'outrigger_handler_duration_seconds_count', { plugin: 'w' }), 2)
    assert.equal(valueOf(hist, 'outrigger_handler_duration_seconds_bucket', { plugin: 'w', le: '0.005' }), 1)
  })
})
