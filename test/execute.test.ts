import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Envelope } from '../src/protocol/envelope.js'
import type { Supervisor } from '../src/supervisor/types.js'
import { PluginDir, core } from './helpers/plugins.js'
import { until } from './helpers/wait.js'

const ACTION_TIMEOUT_MS = 400

/** Auth by `x-user`; "guest" may not `create`. Every step it sees is written down in order. */
const GATE = `
export default {
  provides: {
    auth(req) {
      globalThis.__steps?.push('auth')
      const name = req.headers['x-user']
      if (typeof name !== 'string') throw Object.assign(new Error('who are you? send x-user'), { status: 401 })
      return { name }
    },
    permission(user, target) {
      globalThis.__steps?.push('permission')
      return !(user.name === 'guest' && target.action === 'create')
    },
  },
}
`

const SHOP = `
const step = (s) => globalThis.__steps?.push(s)
export default {
  controllers: {
    items: {
      create: (request) => { step('action'); return { created: request.body } },
      list: (request) => ({ query: request.query, body: request.body, user: request.user }),
      broken: () => { throw Object.assign(new Error('the shelf collapsed'), { code: 'SHOP_SHELF_COLLAPSED' }) },
      teapot: () => { throw Object.assign(new Error('short and stout'), { status: 418 }) },
      rescued: () => { throw new Error('out of stock') },
      swapped: () => { throw new Error('a low-level failure') },
      slow: (request) => new Promise((resolve) => {
        request.signal.addEventListener('abort', () => { globalThis.__aborted = request.signal.reason.code; resolve('late') })
      }),
    },
  },
  pipes: {
    'shop/items:beforeCreate'(request) {
      step('before')
      if (request.body?.name === 'duplicate') throw Object.assign(new Error('an item named "duplicate" already exists'), { status: 409 })
      return request
    },
    'shop/items:afterCreate'({ request, result }) {
      step('after-pipe')
      return { request, result: { ...result, stamped: true } }
    },
    'shop/items:errorRescued'({ request, error }) {
      return { request, result: { rescued: error.message } }
    },
    // Returns a string: not a rescue, and no crash of the path either.
    'shop/items:errorBroken'() {
      return 'not an object'
    },
    'shop/items:errorSwapped'({ request }) {
      return { request, error: Object.assign(new Error('the item is locked'), { status: 423, code: 'SHOP_LOCKED' }) }
    },
  },
  hooks: {
    'shop/items:afterCreate'(payload) { step('after-hook'); globalThis.__afterHook = payload.result },
    'shop/items:errorBroken'(payload) { globalThis.__errorHook = payload.error },
    'shop/items:afterSlow'() { globalThis.__slowHook = true },
  },
}
`

/** A core plugin whose function runs ctx.execute: the way a protocol plugin reaches actions. */
const CALLER = `
export default {
  functions: {
    run: (request, ctx) => ctx.execute(request),
  },
}
`

const g = globalThis as { __steps?: string[]; __afterHook?: unknown; __errorHook?: unknown; __aborted?: unknown; __slowHook?: unknown }

describe('ctx.execute: the one request path', () => {
  let dir: PluginDir
  let sup: Supervisor
  let url: string

  before(async () => {
    dir = await PluginDir.create()
    await dir.add('gate', core('gate'), GATE)
    await dir.add('shop', core('shop'), SHOP)
    await dir.add('caller', core('caller'), CALLER)
    sup = await dir.start({ http: { port: 0 }, config: { http: { actionTimeoutMs: ACTION_TIMEOUT_MS } } })
    url = (sup as Supervisor & { httpUrl: string }).httpUrl
  })
  after(() => dir?.remove())

  const execute = (request: object) => sup.call<Envelope>('caller.run', request)
  async function overHttp(path: string, opts: { user?: string; body?: unknown; requestId: string }): Promise<{ status: number; env: Envelope }> {
    const headers: Record<string, string> = { 'x-request-id': opts.requestId }
    if (opts.user) headers['x-user'] = opts.user
    if (opts.body !== undefined) headers['content-type'] = 'application/json'
    const res = await fetch(url + path, { method: opts.body === undefined ? 'GET' : 'POST', headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) })
    return { status: res.status, env: (await res.json()) as Envelope }
  }

  it('answers HTTP and ctx.execute with identical envelopes for the same request, good and bad', async () => {
    const cases = [
      { path: '/_/shop/items/create', action: 'create', user: 'alice', body: { name: 'lamp' }, status: 200 },
      { path: '/_/shop/items/list', action: 'list', user: 'alice', status: 200 },
      { path: '/_/shop/items/create', action: 'create', user: 'alice', body: { name: 'duplicate' }, status: 409 },
      { path: '/_/shop/items/create', action: 'create', user: 'guest', body: { name: 'lamp' }, status: 403 },
      { path: '/_/shop/items/list', action: 'list', status: 401 },
      { path: '/_/shop/items/nothing', action: 'nothing', user: 'alice', status: 404 },
      { path: '/_/shop/items/broken', action: 'broken', user: 'alice', status: 500 },
      { path: '/_/shop/items/teapot', action: 'teapot', user: 'alice', status: 418 },
    ]
    for (const [i, c] of cases.entries()) {
      const requestId = `same-${i}`
      const http = await overHttp(c.path, { user: c.user, body: c.body, requestId })
      const [, , plugin, controller] = c.path.split('/')
      const headers = c.user ? { 'x-user': c.user } : {}
      const direct = await execute({ requestId, controller: `${plugin}/${controller}`, action: c.action, body: c.body, credentials: { headers, remoteAddress: '127.0.0.1' } })
      assert.equal(http.status, c.status, c.path)
      assert.equal(direct.status, c.status, c.path)
      assert.equal(direct.controller, 'shop/items')
      // The HTTP request carries headers of its own (host, accept…): the action sees them, the envelope does not.
      if (c.action === 'list' && c.status === 200) {
        assert.deepEqual((http.env.result as { user: unknown }).user, (direct.result as { user: unknown }).user)
        continue
      }
      assert.deepEqual(direct, http.env, c.path)
    }
  })

  it('runs auth, permission, the before pipe, the action, the after pipe (which rewrites the result), then the hook', async () => {
    g.__steps = []
    g.__afterHook = undefined
    const env = await execute({ controller: 'shop/items', action: 'create', body: { name: 'chair' }, credentials: { headers: { 'x-user': 'bob' } } })
    assert.equal(env.status, 200)
    assert.deepEqual(env.result, { created: { name: 'chair' }, stamped: true })
    await until('the after hook', () => g.__afterHook)
    assert.deepEqual(g.__steps, ['auth', 'permission', 'before', 'action', 'after-pipe', 'after-hook'])
    assert.deepEqual(g.__afterHook, { created: { name: 'chair' }, stamped: true }, 'the hook hears the rewritten result')
  })

  it('lets the error pipe turn a thrown action into a result; otherwise the error hook hears it', async () => {
    const creds = { headers: { 'x-user': 'alice' } }
    const rescued = await execute({ controller: 'shop/items', action: 'rescued', credentials: creds })
    assert.deepEqual([rescued.status, rescued.error, rescued.result], [200, null, { rescued: 'out of stock' }])
    g.__errorHook = undefined
    const broken = await execute({ controller: 'shop/items', action: 'broken', credentials: creds })
    assert.deepEqual([broken.status, broken.error?.code], [500, 'SHOP_SHELF_COLLAPSED'])
    assert.deepEqual(await until('the error hook', () => g.__errorHook), { code: 'SHOP_SHELF_COLLAPSED', message: 'the shelf collapsed' })
    const swapped = await execute({ controller: 'shop/items', action: 'swapped', credentials: creds })
    assert.deepEqual([swapped.status, swapped.error], [423, { code: 'SHOP_LOCKED', message: 'the item is locked' }], 'the error pipe may replace the error')
  })

  it('answers an action past http.actionTimeoutMs with 504 RIG_ERR_ACTION_TIMEOUT, aborts its signal and skips its hook', async () => {
    g.__aborted = undefined
    g.__slowHook = undefined
    const http = await overHttp('/_/shop/items/slow', { user: 'alice', requestId: 'slow-1' })
    assert.equal(http.status, 504)
    assert.equal(http.env.error?.code, 'RIG_ERR_ACTION_TIMEOUT')
    assert.match(http.env.error!.message, /shop\/items:slow .*400 ms.*http\.actionTimeoutMs/)
    assert.equal(await until('the action sees its signal abort', () => g.__aborted), 'RIG_ERR_ACTION_TIMEOUT')
    const direct = await execute({ requestId: 'slow-1', controller: 'shop/items', action: 'slow', credentials: { headers: { 'x-user': 'alice' } } })
    assert.deepEqual(direct, http.env)
    // The late result settled after the abort; a hook run would have been queued by now.
    await new Promise((r) => setImmediate(r))
    assert.equal(g.__slowHook, undefined, 'no after hook for an answer nobody got')
  })

  it('refuses a malformed request with 400 RIG_ERR_REQUEST_INVALID naming the field, and keeps serving', async () => {
    const bad: Array<[unknown, RegExp]> = [
      [null, /the request is null/],
      [[1], /an array/],
      [{ controller: 'items', action: 'list' }, /"controller" must be "<plugin>\/<controller>"/],
      [{ controller: 'shop/items' }, /"action" must be a non-empty string/],
      [{ controller: 'shop/items', action: 'list', requestId: 'has spaces' }, /"requestId"/],
      [{ controller: 'shop/items', action: 'list', query: { n: 1 } }, /"query" must be an object of strings/],
    ]
    for (const [request, message] of bad) {
      const env = await execute(request as object)
      assert.equal(env.status, 400, JSON.stringify(request))
      assert.equal(env.error?.code, 'RIG_ERR_REQUEST_INVALID')
      assert.match(env.error!.message, message)
    }
    const ok = await execute({ controller: 'shop/items', action: 'list', query: { n: '1' }, credentials: { headers: { 'x-user': 'alice' } } })
    assert.deepEqual(ok.result, { query: { n: '1' }, body: null, user: { name: 'alice' } })
  })
})
