import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { OutriggerError } from '../src/errors.js'
import { PluginDir, core } from './helpers/plugins.js'

/** A plugin that records its lifecycle steps in a shared global list. */
const recorder = (name: string, extra = '') => `
const log = (globalThis.__steps ??= [])
export default {
  init(ctx) { log.push('init:${name}') },
  whenReady(ctx) { log.push('ready:${name}') },
  close(ctx) { log.push('close:${name}') },
  ${extra}
}
`

describe('core plugin lifecycle', () => {
  let dir: PluginDir
  beforeEach(async () => {
    dir = await PluginDir.create()
    ;(globalThis as any).__steps = []
  })
  afterEach(() => dir.remove())

  it('starts plugins in order (init, then whenReady) and closes them in reverse order', async () => {
    for (const n of ['a1', 'b2', 'c3']) await dir.add(n, core(n), recorder(n))
    const sup = await dir.start()
    assert.deepEqual((globalThis as any).__steps, ['init:a1', 'init:b2', 'init:c3', 'ready:a1', 'ready:b2', 'ready:c3'])
    assert.deepEqual(sup.status().plugins.map((p) => p.state), ['running', 'running', 'running'])
    await sup.stop()
    assert.deepEqual((globalThis as any).__steps.slice(6), ['close:c3', 'close:b2', 'close:a1'])
    assert.deepEqual(sup.status().plugins.map((p) => p.state), ['stopped', 'stopped', 'stopped'])
  })

  it('times out a hanging init, marks that plugin failed, and starts the others', async () => {
    await dir.add('a1', core('a1'), recorder('a1'))
    await dir.add('hangs', core('hangs'), 'export default { init() { return new Promise(() => {}) } }')
    await dir.add('z9', core('z9'), recorder('z9'))
    const sup = await dir.start({ config: { timeouts: { initMs: 200 } } })
    const byName = Object.fromEntries(sup.status().plugins.map((p) => [p.name, p]))
    assert.equal(byName.hangs.state, 'failed')
    assert.equal(byName.hangs.lastError?.code, 'RIG_ERR_PLUGIN_INIT_TIMEOUT')
    assert.match(byName.hangs.lastError!.message, /init did not finish within 200 ms/)
    assert.equal(byName.a1.state, 'running')
    assert.equal(byName.z9.state, 'running')
    assert.equal(sup.status().health, 'unhealthy')
    await sup.stop()
  })

  it('marks a plugin whose init throws or whose entry is broken as failed, with its error', async () => {
    await dir.add('throws', core('throws'), 'export default { init() { throw new Error("no database") } }')
    await dir.add('noentry', core('noentry', { main: 'missing.js' }))
    await dir.add('syntax', core('syntax'), 'export default {{')
    await dir.add('notaplugin', core('notaplugin'), 'export default { hooks: { "a:b": 42 }, extra: 1 }')
    await dir.add('fine', core('fine'), recorder('fine'))
    const sup = await dir.start()
    const byName = Object.fromEntries(sup.status().plugins.map((p) => [p.name, p]))
    assert.equal(byName.throws.lastError?.code, 'RIG_ERR_PLUGIN_INIT')
    assert.match(byName.throws.lastError!.message, /plugin "throws": init threw: no database/)
    assert.equal(byName.noentry.lastError?.code, 'RIG_ERR_PLUGIN_LOAD')
    assert.match(byName.noentry.lastError!.message, /missing\.js does not exist \(check "main" in manifest\.json\)/)
    assert.equal(byName.syntax.lastError?.code, 'RIG_ERR_PLUGIN_LOAD')
    assert.match(byName.notaplugin.lastError!.message, /unknown key "extra".*hooks\["a:b"\] must be a function/)
    assert.equal(byName.fine.state, 'running')
    await sup.stop()
  })

  it('--strict refuses to start when a plugin fails, and closes the ones that started', async () => {
    await dir.add('a1', core('a1'), recorder('a1'))
    await dir.add('throws', core('throws'), 'export default { init() { throw new Error("boom") } }')
    const err = await dir.start({ strict: true }).catch((e: OutriggerError) => e)
    assert.ok(err instanceof OutriggerError)
    assert.equal(err.code, 'RIG_ERR_STRICT_START')
    assert.match(err.message, /throws: plugin "throws": init threw: boom/)
    assert.ok((globalThis as any).__steps.includes('close:a1'))
  })

  it('calls a core factory entry once, with its ctx, and checks the options against the schema it returns', async () => {
    await dir.add('fact', core('fact'), `import { z } from '${import.meta.resolve('zod')}'
export default (ctx) => {
  ;(globalThis.__made ??= []).push(ctx.name)
  return { options: z.object({ n: z.number().default(3) }), functions: { n: () => ctx.options.n } }
}`)
    await dir.add('factbad', core('factbad'), `import { z } from '${import.meta.resolve('zod')}'
export default () => ({ options: z.object({ n: z.number() }) })`)
    await dir.add('factslot', core('factslot'), `export default () => ({ provides: { logger: (base) => base } })`)
    const sup = await dir.start({ config: { plugins: { factbad: { options: { n: 'x' } } } } })
    assert.equal(await sup.call('fact.n'), 3)
    assert.deepEqual((globalThis as any).__made, ['fact'])
    const byName = Object.fromEntries(sup.status().plugins.map((p) => [p.name, p]))
    assert.equal(byName.factbad.lastError?.code, 'RIG_ERR_OPTIONS_INVALID')
    assert.match(byName.factbad.lastError!.message, /plugins\.factbad\.options: n: /)
    assert.equal(byName.factslot.lastError?.code, 'RIG_ERR_PLUGIN_LOAD')
    assert.match(byName.factslot.lastError!.message, /a factory entry cannot provide service slots/)
    await sup.stop()
  })

  it("checks a plugin's options against its own zod schema before init", async () => {
    const code = `import { z } from '${import.meta.resolve('zod')}'
export default { options: z.object({ greeting: z.string(), times: z.number().int().default(1) }), init(ctx) { globalThis.__opts = ctx.options } }`
    await dir.add('greeter', core('greeter'), code)
    await dir.add('strict', core('strict'), code)
    const sup = await dir.start({ config: { plugins: { greeter: { options: { greeting: 'hi' } }, strict: { options: { greeting: 3 } } } } })
    assert.deepEqual((globalThis as any).__opts, { greeting: 'hi', times: 1 })
    const strict = sup.status().plugins.find((p) => p.name === 'strict')!
    assert.equal(strict.state, 'failed')
    assert.equal(strict.lastError?.code, 'RIG_ERR_OPTIONS_INVALID')
    assert.match(strict.lastError!.message, /plugins\.strict\.options: greeting: .*found 3/)
    await sup.stop()
  })
})
