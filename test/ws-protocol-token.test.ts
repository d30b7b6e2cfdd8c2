/**
 * ws-protocol and bearer tokens: a browser cannot set an Authorization header on a WebSocket
 * upgrade, so the token comes as the subprotocols ['bearer', token] or in an auth frame. A real
 * host whose built-in auth slot requires `http.token`; every envelope is compared with the one
 * its HTTP face answers.
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import { startSupervisor, type StartedSupervisor } from '../src/start.js'
import { HTTP_FIXTURES } from './helpers/http-host.js'
import { memoryLogger } from './helpers/plugins.js'
import { WsClient } from './helpers/ws-client.js'

const WS_PLUGIN = fileURLToPath(new URL('../../plugins/available/ws-protocol', import.meta.url))
/** What `outrigger new --kind protocol` writes: it shows the subprotocol route too. */
const SCAFFOLD = fileURLToPath(new URL('../../docs/examples/ws-echo', import.meta.url))
const TOKEN = 'tok_3f9a1c7e5b2d4a6c8e0f1b3d5a7c9e2f'
const WRONG = 'tok_wrong_b8d1e4f7a0c3e6b9d2f5a8c1'
const CHROMIUM = process.env.OUTRIGGER_CHROMIUM ?? '/usr/bin/chromium'
const HAVE_BROWSER = existsSync(CHROMIUM)
const MISSING = `no browser at ${CHROMIUM}: install Debian's chromium (apt-get install -y chromium) to run the browser check`
const SKIP_BROWSER = HAVE_BROWSER || process.env.OUTRIGGER_REQUIRE_BROWSER === '1' ? false : MISSING
if (SKIP_BROWSER) process.stderr.write(`\n${'!'.repeat(100)}\n!! SKIPPED: ${SKIP_BROWSER}\n${'!'.repeat(100)}\n\n`)

/** An action that tells what an action sees of the credentials, without repeating the token. */
const PROBE = `
export default {
  controllers: {
    seen: {
      headers: (r) => ({
        protocol: r.headers['sec-websocket-protocol'] ?? null,
        authorization: r.headers.authorization === 'Bearer ${TOKEN}' ? 'Bearer <the token>' : String(r.headers.authorization ?? 'none').slice(0, 6),
      }),
    },
  },
}
`

describe('ws-protocol: a bearer token from a browser', () => {
  let sup: StartedSupervisor
  let root: string
  let wsUrl: string
  const mem = memoryLogger()
  const clients: WsClient[] = []
  const open = async (protocols?: string[], headers: Record<string, string> = {}, url = wsUrl) => {
    const c = await WsClient.open(url, headers, protocols)
    clients.push(c)
    return c
  }
  /** The envelope the HTTP face answers the same request with the same Authorization header. */
  const overHttp = async (requestId: string, controller: string, action: string, token?: string) => {
    const headers: Record<string, string> = { 'x-request-id': requestId, 'content-type': 'application/json' }
    if (token !== undefined) headers.authorization = `Bearer ${token}`
    const res = await fetch(`${sup.httpUrl}/_/${controller}/${action}`, { method: 'POST', headers, body: 'null' })
    return { status: res.status, envelope: (await res.json()) as any }
  }

  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'outrigger-wstoken-'))
    const enabled = path.join(root, 'enabled')
    await mkdir(path.join(enabled, 'probe'), { recursive: true })
    await symlink(WS_PLUGIN, path.join(enabled, 'ws-protocol'), 'dir')
    await symlink(path.join(HTTP_FIXTURES, 'shop'), path.join(enabled, 'shop'), 'dir')
    await symlink(SCAFFOLD, path.join(enabled, 'ws-echo'), 'dir')
    await writeFile(path.join(root, 'package.json'), '{"type":"module"}\n')
    await writeFile(path.join(enabled, 'probe', 'manifest.json'), JSON.stringify({ name: 'probe', version: '1.0.0', type: 'core' }))
    await writeFile(path.join(enabled, 'probe', 'index.js'), PROBE)
    sup = await startSupervisor({
      app: `wstoken-${path.basename(root)}`,
      pluginsDir: enabled,
      stateDir: path.join(root, 'state'),
      store: 'memory',
      control: false,
      http: { port: 0 },
      logger: mem.logger,
      // No auth plugin: the built-in auth slot, the one an HTTP caller's Authorization header meets.
      config: { logLevel: 'debug', http: { token: TOKEN }, plugins: { 'ws-protocol': { options: { port: 0 } }, 'ws-echo': { options: { port: 0 } } } },
    })
    const { port } = await sup.call<{ port: number }>('ws-protocol.address')
    wsUrl = `ws://127.0.0.1:${port}`
  })
  after(async () => {
    for (const c of clients) c.close()
    await sup?.stop()
    if (root) await rm(root, { recursive: true, force: true })
  })

  it("takes the token from the subprotocols ['bearer', token], answers 'bearer', and authorizes every frame with it", async () => {
    const c = await open(['bearer', TOKEN])
    assert.equal(c.ws.protocol, 'bearer')
    assert.equal(c.upgrade['sec-websocket-protocol'], 'bearer', 'the handshake answers the subprotocol, never the token')
    const who = await c.request({ requestId: 'sp-1', controller: 'shop/items', action: 'whoami' })
    assert.deepEqual([who.status, who.result], [200, { user: { kind: 'token' } }])
    assert.deepEqual(who, (await overHttp('sp-1', 'shop/items', 'whoami', TOKEN)).envelope, 'the envelope HTTP answers with Authorization: Bearer')
    // The action sees the token where an HTTP action does, and no longer in the protocol header.
    const seen = await c.request({ controller: 'probe/seen', action: 'headers' })
    assert.deepEqual(seen.result, { protocol: 'bearer', authorization: 'Bearer <the token>' })
    // Subscribing passes the same auth slot.
    assert.equal((await c.request({ subscribe: 'token:*' })).status, 200)
    sup.emit('token:ping', { n: 1 })
    await c.next('the subscribed event', (f) => f.event === 'token:ping')
  })

  it('answers a wrong or missing token with the 401 envelope HTTP answers, frame by frame, and keeps the connection', async () => {
    const wrong = await open(['bearer', WRONG])
    assert.equal(wrong.ws.protocol, 'bearer')
    const none = await open()
    for (const [client, token, message] of [
      [wrong, WRONG, 'the bearer token is wrong'],
      [none, undefined, 'send Authorization: Bearer <token> (http.token is set)'],
    ] as const) {
      for (const [i, [controller, action]] of [['shop/items', 'whoami'], ['ws-protocol/realtime', 'subscribe']].entries()) {
        const requestId = `bad-${token ? 'wrong' : 'none'}-${i}`
        const env = action === 'subscribe' ? await client.request({ requestId, subscribe: 'token:*' }) : await client.request({ requestId, controller, action })
        assert.deepEqual([env.status, env.error.code, env.error.message], [401, 'RIG_ERR_HTTP_UNAUTHORIZED', message])
        const http = await overHttp(requestId, controller, action, token)
        assert.equal(http.status, 401)
        assert.deepEqual(env, http.envelope, `${controller}:${action}: the envelope HTTP answers`)
      }
      assert.equal(client.closed, undefined, 'a refused frame does not close the connection')
    }
    sup.emit('token:ping', { n: 2 })
    const marker = await open(['bearer', TOKEN])
    await marker.request({ subscribe: 'token:*' })
    sup.emit('token:ping', { n: 3 })
    await marker.next('the event at an authorized client', (f) => f.event === 'token:ping')
    assert.equal(wrong.frames.filter((f) => f.event).length, 0, 'a refused subscription hears nothing')
  })

  it('takes the token from an auth frame, for the frames sent right after it, and lets a later auth frame replace it', async () => {
    const c = await open()
    // A browser sends its auth frame and its first request without waiting in between.
    c.send({ requestId: 'auth-1', auth: TOKEN })
    c.send({ requestId: 'after-auth-1', controller: 'shop/items', action: 'whoami' })
    const ack = await c.next('the answer to the auth frame', (f) => f.requestId === 'auth-1')
    assert.deepEqual(ack, { requestId: 'auth-1', status: 200, error: null, controller: 'ws-protocol/session', action: 'auth', result: { authenticated: true } })
    assert.equal((await c.next('the request after it', (f) => f.requestId === 'after-auth-1')).status, 200)

    const bad = await c.request({ requestId: 'auth-2', auth: WRONG })
    assert.deepEqual(bad, (await overHttp('auth-2', 'ws-protocol/session', 'auth', WRONG)).envelope, 'a wrong token answers the 401 HTTP answers')
    assert.deepEqual([bad.status, bad.error.code], [401, 'RIG_ERR_HTTP_UNAUTHORIZED'])
    assert.equal((await c.request({ controller: 'shop/items', action: 'whoami' })).status, 401, 'the wrong token replaced the good one')
    assert.equal((await c.request({ auth: TOKEN })).status, 200)
    assert.equal((await c.request({ controller: 'shop/items', action: 'whoami' })).status, 200)

    // A malformed token is refused without being repeated, and the connection keeps its token.
    for (const [auth, found] of [[42, /found number/], ['', /found 0 characters/], [`${TOKEN} x`, /found whitespace/], ['t'.repeat(5000), /found 5000 characters/]] as const) {
      const env = await c.request({ auth })
      assert.deepEqual([env.status, env.error.code], [400, 'RIG_ERR_REQUEST_INVALID'])
      assert.match(env.error.message, /^"auth" is the bearer token: a string of 1–4096 characters without spaces/)
      assert.match(env.error.message, found)
      assert.ok(!env.error.message.includes(TOKEN))
    }
    assert.equal((await c.request({ controller: 'shop/items', action: 'whoami' })).status, 200)
  })

  it('refuses a token in the URL, and malformed bearer subprotocols, with an error frame and close 1008 saying what to send', async () => {
    for (const param of ['token', 'access_token']) {
      const c = await open(undefined, {}, `${wsUrl}/?${param}=${TOKEN}`)
      const closed = await c.whenClosed()
      assert.deepEqual(closed, { code: 1008, reason: "token in the URL refused: use the subprotocols ['bearer', token] or an auth frame" })
      assert.equal(c.frames.length, 1)
      const [err] = c.frames
      assert.deepEqual([err.status, err.error.code], [400, 'RIG_ERR_REQUEST_INVALID'])
      assert.equal(
        err.error.message,
        `a token in the URL (?${param}=) is refused: URLs end up in access logs, proxies and browser history; send it as the subprotocols: new WebSocket(url, ['bearer', token]), or as a frame { "auth": "<token>" } before the requests`,
      )
    }
    for (const [protocols, headers, reason] of [
      [['bearer'], {}, "bad bearer subprotocols: offer exactly ['bearer', token]"],
      [['json', 'bearer', TOKEN], {}, "bad bearer subprotocols: offer exactly ['bearer', token]"],
      [['bearer', TOKEN], { authorization: `Bearer ${TOKEN}` }, 'token sent twice (Authorization and subprotocol): send it one way'],
    ] as const) {
      const c = await open([...protocols], headers)
      assert.equal(c.ws.protocol, 'bearer', 'the handshake completes, so a browser sees the close reason')
      assert.deepEqual(await c.whenClosed(), { code: 1008, reason })
      assert.equal(c.frames[0]?.error?.code, 'RIG_ERR_REQUEST_INVALID')
    }
    // A subprotocol the server does not speak is not answered, so the client fails the handshake.
    await assert.rejects(open(['graphql-ws']), /Server sent no subprotocol/)
    // The Authorization header still works for clients that can set it.
    assert.equal((await (await open(undefined, { authorization: `Bearer ${TOKEN}` })).request({ controller: 'shop/items', action: 'whoami' })).status, 200)
  })

  it("the protocol scaffold takes ['bearer', token] the same way", async () => {
    const url = `ws://127.0.0.1:${await sup.call<number>('ws-echo.port')}`
    const good = await open(['bearer', TOKEN], {}, url)
    assert.equal(good.upgrade['sec-websocket-protocol'], 'bearer')
    const said = await good.request({ requestId: 'echo-1', controller: 'ws-echo/echo', action: 'say', body: 'hi' })
    assert.deepEqual([said.status, said.result], [200, { said: 'hi' }])
    const wrong = await open(['bearer', WRONG], {}, url)
    const refused = await wrong.request({ requestId: 'echo-2', controller: 'ws-echo/echo', action: 'say' })
    assert.deepEqual(refused, (await overHttp('echo-2', 'ws-echo/echo', 'say', WRONG)).envelope)
    assert.equal(refused.status, 401)
  })

  it('in a real browser: new WebSocket(url, ["bearer", token]) is served, a token in the URL is refused', { skip: SKIP_BROWSER }, async () => {
    if (!HAVE_BROWSER) throw new Error(`OUTRIGGER_REQUIRE_BROWSER=1 but ${MISSING}`)
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update'] })
    try {
      const page = await browser.newPage()
      const seen = await page.evaluate(
        ([url, token]) =>
          new Promise<{ protocol: string; answer: any; closed: { code: number; reason: string } }>((resolve, reject) => {
            const ws = new WebSocket(url, ['bearer', token])
            let answer: any
            ws.onopen = () => ws.send(JSON.stringify({ requestId: 'b1', controller: 'shop/items', action: 'whoami' }))
            ws.onmessage = (m) => {
              answer = JSON.parse(m.data)
              const leaked = new WebSocket(`${url}/?token=${token}`)
              leaked.onclose = (e) => resolve({ protocol: ws.protocol, answer, closed: { code: e.code, reason: e.reason } })
            }
            ws.onerror = () => reject(new Error('the WebSocket failed'))
          }),
        [wsUrl, TOKEN],
      )
      assert.equal(seen.protocol, 'bearer')
      assert.deepEqual([seen.answer.requestId, seen.answer.status, seen.answer.result], ['b1', 200, { user: { kind: 'token' } }])
      assert.deepEqual(seen.closed, { code: 1008, reason: "token in the URL refused: use the subprotocols ['bearer', token] or an auth frame" })
    } finally {
      await browser.close()
    }
  })

  it('never writes a token, good or wrong, to the logs or to a client', async () => {
    // A failing action logs its request at error level: the logs below are not empty by luck.
    const c = await open(['bearer', TOKEN])
    assert.equal((await c.request({ controller: 'shop/items', action: 'broken' })).status, 500)
    const logged = JSON.stringify(mem.lines, (_k, v) => (v instanceof Error ? { message: v.message, stack: v.stack } : v))
    assert.match(logged, /ws-protocol listening/)
    assert.match(logged, /the shelf collapsed/)
    const sent = JSON.stringify(clients.map((x) => [x.frames, x.closed, x.upgrade]))
    for (const secret of [TOKEN, WRONG]) {
      assert.ok(!logged.includes(secret), 'a token in the logs')
      assert.ok(!sent.includes(secret), 'a token in a frame, a close reason or the handshake')
    }
  })
})
