import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { readFile } from 'node:fs/promises'
import { checkManifest, loadManifest } from '../src/manifest/load.js'
import { ManifestSchema } from '../src/manifest/schema.js'
import { OutriggerError } from '../src/errors.js'
import { PluginDir } from './helpers/plugins.js'

const ok = { name: 'bad', version: '1.0.0', type: 'worker' }

/** [what is wrong, folder, manifest (object or raw text), a fragment the error must contain] */
const corpus: Array<[string, string, object | string, RegExp]> = [
  ['not JSON', 'bad', '{ "name": "bad", ', /not valid JSON/],
  ['an array', 'bad', '[]', /expected a JSON object \(found an array\)/],
  ['null', 'bad', 'null', /expected a JSON object/],
  ['missing name', 'bad', { version: '1.0.0', type: 'core' }, /name: .*found nothing/],
  ['upper-case name', 'Bad', { ...ok, name: 'Bad' }, /name: lowercase letters.*found "Bad"/],
  ['name with a space', 'bad', { ...ok, name: 'b ad' }, /name: lowercase.*found "b ad"/],
  ['name too long', 'bad', { ...ok, name: 'a'.repeat(65) }, /name: .*at most 64/],
  ['name starting with -', 'bad', { ...ok, name: '-bad' }, /name: .*found "-bad"/],
  ['name not the folder', 'other', ok, /name: must equal the folder name.*expected "other", found "bad"/],
  ['missing version', 'bad', { name: 'bad', type: 'core' }, /version: .*found nothing/],
  ['bad semver', 'bad', { ...ok, version: '1.0' }, /version: a semver version.*found "1.0"/],
  ['version a number', 'bad', { ...ok, version: 1 }, /version: .*found 1/],
  ['unknown type', 'bad', { ...ok, type: 'plugin' }, /type: .*"core".*"worker".*found "plugin"/],
  ['missing type', 'bad', { name: 'bad', version: '1.0.0' }, /type: .*found nothing/],
  ['worker section on a core plugin', 'bad', { ...ok, type: 'core', worker: {} }, /worker: a "worker" section is only allowed with "type": "worker"/],
  ['main escaping the folder', 'bad', { ...ok, main: '../../etc/passwd.js' }, /main: must resolve inside the plugin folder \(found "..\/..\/etc\/passwd.js"\)/],
  ['main absolute', 'bad', { ...ok, main: '/tmp/x.js' }, /main: must resolve inside the plugin folder/],
  ['bad engine range', 'bad', { ...ok, engine: 'soon' }, /engine: a semver range.*found "soon"/],
  ['unknown top-level field', 'bad', { ...ok, hooks: {} }, /\(root\): unknown field\(s\) "hooks"/],
  ['unknown isolation', 'bad', { ...ok, worker: { isolation: 'vm' } }, /worker.isolation: .*found "vm"/],
  ['zero instances', 'bad', { ...ok, worker: { instances: 0 } }, /worker.instances: .*found 0/],
  ['unknown delivery', 'bad', { ...ok, worker: { delivery: 'exactly-once' } }, /worker.delivery: .*found "exactly-once"/],
  ['bad overflow policy', 'bad', { ...ok, worker: { queue: { overflow: 'block' } } }, /worker.queue.overflow: .*found "block"/],
  ['negative backoff', 'bad', { ...ok, worker: { restart: { backoffMs: { initial: -1 } } } }, /worker.restart.backoffMs.initial: .*found -1/],
  ['unknown restart policy', 'bad', { ...ok, worker: { restart: { policy: 'always' } } }, /worker.restart.policy: .*found "always"/],
  ['typo in limits', 'bad', { ...ok, worker: { limits: { memoryMB: 10 } } }, /worker.limits: unknown field\(s\) "memoryMB"/],
  ['partitionBy not a path', 'bad', { ...ok, worker: { partitionBy: 'a..b' } }, /worker.partitionBy: a dotted path/],
]

describe('manifest', () => {
  let dir: PluginDir
  before(async () => {
    dir = await PluginDir.create()
  })
  after(() => dir.remove())

  it(`gives each of ${corpus.length} malformed manifests its own clear error naming the file and field`, async () => {
    assert.ok(corpus.length >= 20)
    const messages = new Set<string>()
    for (const [i, [what, folder, manifest, expected]] of corpus.entries()) {
      const pluginDir = await dir.add(`case${i}/${folder}`, manifest, undefined, { enable: false })
      const err = await loadManifest(pluginDir).then(
        () => assert.fail(`${what}: accepted`),
        (e: unknown) => e as OutriggerError,
      )
      assert.equal(err.code, 'RIG_ERR_MANIFEST_INVALID', what)
      assert.match(err.message, /manifest\.json: /, `${what}: names the file`)
      assert.match(err.message, expected, `${what}: ${err.message}`)
      messages.add(err.message.replace(/^.*manifest\.json: /, ''))
    }
    assert.equal(messages.size, corpus.length, 'every case has its own message')
  })

  it('reports every problem at once, not just the first', async () => {
    const d = await dir.add('many/bad', { name: 'BAD', version: 'x', type: 'nope' }, undefined, { enable: false })
    const { problems } = await checkManifest(d)
    assert.equal(problems.length, 3, problems.join('\n'))
  })

  it('fills in every default, and a partial object keeps the defaults for the rest', () => {
    const m = ManifestSchema.parse({ name: 'a', version: '1.0.0', type: 'worker', worker: { limits: { unresponsiveMs: 1000 } } })
    assert.equal(m.main, 'index.js')
    assert.deepEqual(m.worker, {
      isolation: 'thread', instances: 1, delivery: 'at-most-once', maxAttempts: 3, partitionBy: null,
      retry: { backoffMs: { initial: 10, max: 1000 } },
      queue: { max: 10000, overflow: 'drop-oldest' },
      restart: { policy: 'permanent', maxRestarts: 5, windowMs: 60000, backoffMs: { initial: 100, max: 10000 } },
      limits: { memoryMb: 512, startTimeoutMs: 10000, stopTimeoutMs: 5000, unresponsiveMs: 1000, handlerTimeoutMs: 30000 },
      placement: 'local',
    })
    const bare = ManifestSchema.parse({ name: 'a', version: '1.0.0', type: 'worker' })
    assert.equal(bare.worker?.queue.max, 10000, 'a worker plugin without a worker section gets the defaults')
  })

  it('ships a JSON Schema generated from the zod schema', async () => {
    const schema = JSON.parse(await readFile(new URL('../../schema/manifest.schema.json', import.meta.url), 'utf8'))
    assert.deepEqual(schema.required.sort(), ['name', 'type', 'version'])
    assert.deepEqual(schema.properties.type.enum, ['core', 'worker'])
    assert.equal(schema.properties.worker.properties.queue.properties.overflow.default, 'drop-oldest')
  })
})
