import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { OutriggerError } from '../src/errors.js'
import { PluginDir, core, memoryLogger } from './helpers/plugins.js'

const never = 'new Promise(() => {})'

describe('per-plugin timeouts (plugins.<name>.timeouts)', () => {
  let dir: PluginDir
  beforeEach(async () => {
    dir = await PluginDir.create()
  })
  afterEach(() => dir.remove())

  it("holds one plugin to its own init limit while the others keep the host's", async () => {
    // Both take 300 ms to start; only "tight" is held to 100 ms.
    const slowInit = 'export default { init: () => new Promise((r) => setTimeout(r, 300)) }'
    await dir.add('tight', core('tight'), slowInit)
    await dir.add('roomy', core('roomy'), slowInit)
    const sup = await dir.start({ config: { timeouts: { initMs: 5000 }, plugins: { tight: { timeouts: { initMs: 100 } } } } })
    const byName = Object.fromEntries(sup.status().plugins.map((p) => [p.name, p]))
    assert.equal(byName.tight.state, 'failed')
    assert.equal(byName.tight.lastError?.code, 'RIG_ERR_PLUGIN_INIT_TIMEOUT')
    assert.match(byName.tight.lastError!.message, /init did not finish within 100 ms \(raise plugins\.tight\.timeouts\.initMs/)
    assert.equal(byName.roomy.state, 'running')
  })

  it('applies its own whenReady limit', async () => {
    await dir.add('waits', core('waits'), `export default { whenReady: () => ${never} }`)
    const sup = await dir.start({ config: { plugins: { waits: { timeouts: { whenReadyMs: 150 } } } } })
    const [p] = sup.status().plugins
    assert.equal(p.state, 'failed')
    assert.match(p.lastError!.message, /whenReady did not finish within 150 ms/)
  })

  it('gives a close that hangs or throws its own code, and goes on closing the others', async () => {
    const { logger, lines } = memoryLogger()
    ;(globalThis as { __closed?: string[] }).__closed = []
    await dir.add('first', core('first'), 'export default { close() { globalThis.__closed.push("first") } }')
    await dir.add('hangs', core('hangs'), `export default { close: () => ${never} }`)
    await dir.add('throws', core('throws'), 'export default { close() { throw new Error("socket already gone") } }')
    const sup = await dir.start({ logger, config: { plugins: { hangs: { timeouts: { closeMs: 100 } } } } })
    const started = Date.now()
    await sup.stop()
    // The host's closeMs (5 s) would have held the stop far longer than "hangs"'s own 100 ms.
    assert.ok(Date.now() - started < 4000, 'the stop waited on the hanging close past its own limit')
    assert.deepEqual((globalThis as { __closed?: string[] }).__closed, ['first'], 'a failing close does not stop the others from closing')
    const errors = lines.filter((l) => l.level === 'error').map((l) => ({ msg: l.msg ?? '', err: (l.obj as { err?: OutriggerError }).err }))
    const hangs = errors.find((e) => e.msg.includes('"hangs"'))
    const throws = errors.find((e) => e.msg.includes('"throws"'))
    assert.equal(hangs?.err?.code, 'RIG_ERR_PLUGIN_CLOSE')
    assert.match(hangs!.msg, /close did not finish within 100 ms/)
    assert.equal(throws?.err?.code, 'RIG_ERR_PLUGIN_CLOSE')
    assert.match(throws!.msg, /close threw: socket already gone/)
  })

  it("times out a core plugin's function call at its callMs", async () => {
    await dir.add('calc', core('calc'), `export default { functions: { stuck: () => ${never}, add: ({ a, b }) => a + b } }`)
    const sup = await dir.start({ config: { plugins: { calc: { timeouts: { callMs: 120 } } } } })
    assert.equal(await sup.call('calc.add', { a: 2, b: 3 }), 5)
    const err = await sup.call('calc.stuck').catch((e: OutriggerError) => e)
    assert.ok(err instanceof OutriggerError)
    assert.equal(err.code, 'RIG_ERR_CALL_TIMEOUT')
    assert.match(err.message, /"calc\.stuck" did not answer within 120 ms \(raise plugins\.calc\.timeouts\.callMs/)
    // The plugin stays up: one stuck call is the caller's failure, not the plugin's.
    assert.equal(sup.status().plugins[0].state, 'running')
  })

  it('refuses an unknown timeout field with the path that names it', async () => {
    await dir.add('calc', core('calc'))
    const err = await dir.start({ config: { plugins: { calc: { timeouts: { initMS: 100 } as never } } } }).catch((e: OutriggerError) => e)
    assert.ok(err instanceof OutriggerError)
    assert.equal(err.code, 'RIG_ERR_CONFIG_INVALID')
    assert.match(err.message, /plugins\.calc\.timeouts/)
    assert.match(err.message, /initMS/)
  })
})
