import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { Matcher } from '../src/bus/matcher.js'
import { OutriggerError } from '../src/errors.js'
import type { Supervisor } from '../src/supervisor/types.js'
import { PluginDir, core, memoryLogger } from './helpers/plugins.js'
import { until } from './helpers/wait.js'

describe('wildcard matching', () => {
  it('matches exact names, scope:*, scope:before*, scope:after* and *', () => {
    const m = new Matcher<{ plugin: string; pattern: string }>()
    for (const pattern of ['orders:create', 'orders:*', 'orders:before*', 'orders:after*', '*', 'users:*']) m.add({ plugin: 'p', pattern })
    const names = (e: string) => m.match(e).map((s) => s.pattern).sort()
    assert.deepEqual(names('orders:create'), ['*', 'orders:*', 'orders:create'].sort())
    assert.deepEqual(names('orders:beforeCreate'), ['*', 'orders:*', 'orders:before*'].sort())
    assert.deepEqual(names('orders:afterCreate'), ['*', 'orders:*', 'orders:after*'].sort())
    assert.deepEqual(names('users:login'), ['*', 'users:*'].sort())
    assert.deepEqual(names('ordersx:create'), ['*'])
    assert.equal(m.match('orders:create'), m.match('orders:create'), 'the second lookup is the cached array')
    m.removePlugin('p')
    assert.deepEqual(m.match('orders:create'), [], 'removal invalidates the cache')
  })
})

describe('the bus', () => {
  let dir: PluginDir
  let sup: Supervisor | undefined
  beforeEach(async () => {
    dir = await PluginDir.create()
  })
  // Stops whatever supervisor the test started, then deletes the folder.
  afterEach(() => dir.remove())

  it('emit returns before any hook runs, and every matching hook runs once', async () => {
    await dir.add('listener', core('listener'), `export default { hooks: {
      'orders:create'(p, ctx, meta) { globalThis.__heard.push(['exact', p.id, meta.subscription]) },
      'orders:*'(p, ctx, meta) { globalThis.__heard.push(['scope', p.id, meta.event]) },
      '*'(p, ctx, meta) { globalThis.__heard.push(['all', p.id, meta.event]) },
    } }`)
    sup = await dir.start()
    sup.emit('orders:create', { id: 1 })
    assert.deepEqual((globalThis as any).__heard, [], 'nothing ran inside emit')
    await until('three hooks', () => (globalThis as any).__heard.length === 3)
    assert.deepEqual((globalThis as any).__heard, [['exact', 1, 'orders:create'], ['scope', 1, 'orders:create'], ['all', 1, 'orders:create']])
    const status = sup.status().plugins[0]
    assert.equal(status.events.received, 3)
    assert.equal(status.events.processed, 3)
  })

  it('sends hook errors to hook:onError, and an error in the error hook does not loop', async () => {
    await dir.add('faulty', core('faulty'), `export default { hooks: {
      'jobs:run'() { throw new Error('job failed') },
      async 'jobs:later'() { throw new Error('async failure') },
      'hook:onError'(e) { globalThis.__heard.push(e.plugin + ':' + e.event + ':' + e.error.message); throw new Error('handler broke too') },
    } }`)
    const { logger, lines } = memoryLogger()
    sup = await dir.start({ logger })
    sup.emit('jobs:run', {})
    sup.emit('jobs:later', {})
    await until('two error reports', () => (globalThis as any).__heard.length === 2 && sup!.status().plugins[0].events.failed === 4)
    assert.deepEqual((globalThis as any).__heard.sort(), ['faulty:jobs:later:async failure', 'faulty:jobs:run:job failed'])
    assert.ok(lines.some((l) => l.level === 'error' && /hook "hook:onError" of plugin "faulty" failed: handler broke too/.test(l.msg ?? '')))
    assert.equal((globalThis as any).__heard.length, 2, 'no loop')
  })

  it('runs pipes in series, each getting the previous result', async () => {
    await dir.add('a1', core('a1'), `export default { pipes: { 'price:compute'(p) { return { ...p, total: p.total + 1, by: [...p.by, 'a1'] } } } }`)
    await dir.add('b2', core('b2'), `export default { pipes: { 'price:*'(p) { return { ...p, total: p.total * 10, by: [...p.by, 'b2'] } } } }`)
    await dir.add('c3', core('c3'), `export default { pipes: { 'price:compute': async (p) => { p.by.push('c3') } } }`)
    sup = await dir.start()
    assert.deepEqual(await sup.pipe('price:compute', { total: 1, by: [] as string[] }), { total: 20, by: ['a1', 'b2', 'c3'] })
    assert.deepEqual(await sup.pipe('nothing:here', { x: 1 }), { x: 1 })
  })

  it('a throwing pipe aborts the chain with RIG_ERR_PIPE_ABORTED naming the plugin', async () => {
    await dir.add('a1', core('a1'), `export default { pipes: { 'orders:beforeCreate'(p) { if (p.qty > 5) { const e = new Error('only 5 in stock'); e.status = 409; throw e } return p } } }`)
    await dir.add('b2', core('b2'), `export default { pipes: { 'orders:beforeCreate'(p) { globalThis.__heard.push('b2'); return p } } }`)
    sup = await dir.start()
    const err = await sup.pipe('orders:beforeCreate', { qty: 9 }).catch((e: OutriggerError) => e)
    assert.ok(err instanceof OutriggerError)
    assert.equal(err.code, 'RIG_ERR_PIPE_ABORTED')
    assert.match(err.message, /pipe "orders:beforeCreate" aborted by plugin "a1": only 5 in stock/)
    assert.equal(err.details?.status, 409)
    assert.deepEqual((globalThis as any).__heard, [], 'the chain stopped')
  })

  it('warns about a pipe slower than pipeWarnMs without cutting it off before pipeTimeoutMs', async () => {
    await dir.add('slow', core('slow'), `export default { pipes: { 'x:y': (p) => new Promise((r) => setTimeout(() => r(p + 1), 60)) } }`)
    const { logger, lines } = memoryLogger()
    sup = await dir.start({ logger, config: { timeouts: { pipeWarnMs: 20 } } })
    assert.equal(await sup.pipe('x:y', 1), 2)
    assert.ok(lines.some((l) => l.level === 'warn' && /pipe "x:y" of plugin "slow" took \d+ ms/.test(l.msg ?? '')))
  })

  it('reports a pipe listener that never settles while it is pending, then times it out and frees its slot', async () => {
    await dir.add('hung', core('hung'), `export default { pipes: { 'h:ang': () => new Promise(() => {}) } }`)
    await dir.add('ok', core('ok'), `export default { pipes: { 'o:k': (p) => p + 1 } }`)
    const { logger, lines } = memoryLogger()
    sup = await dir.start({ logger, config: { maxConcurrentPipes: 1, timeouts: { pipeWarnMs: 50, pipeTimeoutMs: 600 } } })
    let settled = false
    const hung = sup.pipe('h:ang', 1).then(
      () => assert.fail('a listener that never settles cannot give a result'),
      (e: OutriggerError) => ((settled = true), e),
    )
    await until('warned while pending', () => lines.some((l) => l.level === 'warn' && /pipe "h:ang" of plugin "hung" still pending after 50 ms/.test(l.msg ?? '')))
    assert.equal(settled, false, 'the warning came while the listener was still pending')
    const err = await hung
    assert.equal(err.code, 'RIG_ERR_PIPE_TIMEOUT')
    assert.match(err.message, /pipe "h:ang": plugin "hung" did not settle within 600 ms \(timeouts\.pipeTimeoutMs\)/)
    assert.equal(await sup.pipe('o:k', 1), 2, 'the timed-out chain freed its slot')
  })

  it('bounds the number of pipe chains running at once', async () => {
    await dir.add('gate', core('gate'), `export default { pipes: { 'g:wait': (p) => new Promise((r) => (globalThis.__release ??= []).push(() => r(p))) } }`)
    sup = await dir.start({ config: { maxConcurrentPipes: 2 } })
    const running = [sup.pipe('g:wait', 1), sup.pipe('g:wait', 2)]
    const err = await sup.pipe('g:wait', 3).catch((e: OutriggerError) => e)
    assert.equal((err as OutriggerError).code, 'RIG_ERR_PIPE_BUSY')
    await until('both chains waiting', () => (globalThis as any).__release?.length === 2)
    ;(globalThis as any).__release.forEach((f: () => void) => f())
    assert.deepEqual(await Promise.all(running), [1, 2])
    delete (globalThis as any).__release
  })

  it('emit after stop throws RIG_ERR_CLOSED', async () => {
    await dir.add('a1', core('a1'))
    sup = await dir.start()
    await sup.stop()
    assert.throws(() => sup!.emit('a:b', {}), (e: OutriggerError) => e.code === 'RIG_ERR_CLOSED')
  })
})
