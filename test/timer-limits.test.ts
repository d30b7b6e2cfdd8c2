/**
 * Limits that cannot be timers are refused: Node runs a timer longer than 2^31-1 ms after 1 ms, so
 * `unresponsiveMs: 1e10` would declare every instance dead at once. Every millisecond field of
 * the manifest and of the host config is capped in the zod schema (and the shipped JSON Schema).
 */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { after, afterEach, before, beforeEach, describe, it } from 'node:test'
import { parseConfig } from '../src/config/config.js'
import { isOutriggerError, type OutriggerError } from '../src/errors.js'
import { loadManifest } from '../src/manifest/load.js'
import { MAX_TIMER_MS } from '../src/manifest/schema.js'
import { PluginDir, worker } from './helpers/plugins.js'
import { until } from './helpers/wait.js'

const TOO_LONG = 1e10

/** Sets `value` at a dotted path in a fresh object. */
function at(pathText: string, value: unknown): Record<string, unknown> {
  const keys = pathText.split('.')
  const root: Record<string, unknown> = {}
  let cur = root
  for (const k of keys.slice(0, -1)) cur = (cur[k] = {}) as Record<string, unknown>
  cur[keys.at(-1)!] = value
  return root
}

const MANIFEST_FIELDS = ['restart.windowMs', 'restart.backoffMs.initial', 'restart.backoffMs.max', 'limits.startTimeoutMs', 'limits.stopTimeoutMs', 'limits.unresponsiveMs', 'limits.handlerTimeoutMs']
const CONFIG_FIELDS = ['timeouts.initMs', 'timeouts.whenReadyMs', 'timeouts.closeMs', 'timeouts.pipeWarnMs', 'timeouts.pipeTimeoutMs', 'timeouts.drainMs', 'http.requestTimeoutMs']

describe('millisecond limits above 2^31-1', () => {
  let dir: PluginDir
  before(async () => {
    dir = await PluginDir.create()
  })
  after(() => dir.remove())

  it('are refused in every millisecond field of the manifest, naming the field and the maximum', async () => {
    for (const [i, field] of MANIFEST_FIELDS.entries()) {
      const pluginDir = await dir.add(`big${i}/p`, worker('p', at(field, TOO_LONG)), undefined, { enable: false })
      const err = await loadManifest(pluginDir).then(
        () => assert.fail(`worker.${field}: ${TOO_LONG} accepted`),
        (e: unknown) => e as OutriggerError,
      )
      assert.equal(err.code, 'RIG_ERR_MANIFEST_INVALID', field)
      assert.match(err.message, new RegExp(`manifest\\.json: worker\\.${field.replace(/\./g, '\\.')}: at most 2147483647 ms \\(2\\^31-1`), err.message)
      assert.match(err.message, /found 10000000000/)
      // The largest timer Node keeps is still accepted, and 2^31 is not.
      const edge = await dir.add(`edge${i}/p`, worker('p', at(field, MAX_TIMER_MS)), undefined, { enable: false })
      await loadManifest(edge)
      const over = await dir.add(`over${i}/p`, worker('p', at(field, MAX_TIMER_MS + 1)), undefined, { enable: false })
      await assert.rejects(loadManifest(over), (e) => isOutriggerError(e, 'RIG_ERR_MANIFEST_INVALID'), `${field}: 2^31`)
    }
  })

  it('are refused in every millisecond field of the host config, naming the field', () => {
    for (const field of CONFIG_FIELDS) {
      assert.throws(
        () => parseConfig(at(field, TOO_LONG), 'outrigger.config.json'),
        (e) => isOutriggerError(e, 'RIG_ERR_CONFIG_INVALID') && e.message.startsWith(`outrigger.config.json: ${field}: at most 2147483647 ms`),
        field,
      )
      parseConfig(at(field, MAX_TIMER_MS))
    }
  })

  it("are refused in the operator's worker overrides: the plugin fails with the config's error", async () => {
    await dir.add('overridden', worker('overridden'))
    const sup = await dir.start({ config: { plugins: { overridden: { worker: { limits: { unresponsiveMs: TOO_LONG } } } } } })
    const p = sup.status().plugins.find((x) => x.name === 'overridden')!
    assert.equal(p.state, 'failed')
    assert.equal(p.lastError?.code, 'RIG_ERR_CONFIG_INVALID')
    assert.match(p.lastError?.message ?? '', /plugins\.overridden\.worker: limits\.unresponsiveMs: at most 2147483647 ms/)
  })

  it('are capped in the shipped JSON Schemas, for every field whose name ends in Ms', async () => {
    for (const file of ['manifest.schema.json', 'config.schema.json']) {
      const schema = JSON.parse(await readFile(new URL(`../../schema/${file}`, import.meta.url), 'utf8'))
      const found: string[] = []
      // A field whose name ends in Ms, or a number inside such an object (backoffMs.initial).
      const walk = (node: unknown, where: string, inMs: boolean): void => {
        if (!node || typeof node !== 'object') return
        for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
          if (k === 'properties' && v && typeof v === 'object') {
            for (const [name, sub] of Object.entries(v as Record<string, { type?: string; maximum?: number }>)) {
              const ms = inMs || name.endsWith('Ms')
              if (ms && (sub.type === 'integer' || sub.type === 'number')) {
                found.push(`${where}${name}`)
                assert.equal(sub.maximum, MAX_TIMER_MS, `${file}: ${where}${name}`)
              }
              walk(sub, `${where}${name}.`, ms)
            }
          } else walk(v, where, inMs)
        }
      }
      walk(schema, '', false)
      assert.ok(found.length >= (file === 'manifest.schema.json' ? MANIFEST_FIELDS.length : CONFIG_FIELDS.length), `${file}: ${found.join(', ')}`)
    }
  })
})

for (const isolation of (process.env.ISOLATION ? [process.env.ISOLATION] : ['thread', 'process']) as Array<'thread' | 'process'>) {
  describe(`millisecond limits at 2^31-1 (${isolation})`, () => {
    let dir: PluginDir
    beforeEach(async () => {
      dir = await PluginDir.create()
    })
    afterEach(() => dir.remove())

    it('are real limits: heartbeats, state calls and delivery work, and nothing restarts', async () => {
      const limits = { startTimeoutMs: MAX_TIMER_MS, stopTimeoutMs: MAX_TIMER_MS, unresponsiveMs: MAX_TIMER_MS, handlerTimeoutMs: MAX_TIMER_MS }
      const restart = { windowMs: MAX_TIMER_MS, backoffMs: { initial: MAX_TIMER_MS, max: MAX_TIMER_MS } }
      await dir.add('patient', worker('patient', { isolation, limits, restart }), `
        export default { hooks: { async 'tick:on'(p, ctx) { await ctx.state.incrCounter('ticks') } } }`)
      const sup = await dir.start({ config: { timeouts: { initMs: MAX_TIMER_MS, whenReadyMs: MAX_TIMER_MS, closeMs: MAX_TIMER_MS, pipeWarnMs: MAX_TIMER_MS, pipeTimeoutMs: MAX_TIMER_MS, drainMs: MAX_TIMER_MS } } })
      const status = () => sup.status().plugins.find((x) => x.name === 'patient')!
      assert.equal(status().state, 'running')
      for (let i = 0; i < 50; i++) sup.emit('tick:on', { i })
      await until('50 events processed', () => status().events.processed === 50)
      assert.equal(status().events.failed, 0)
      assert.equal(status().restarts, 0)
      assert.equal(status().state, 'running')
    })
  })
}
