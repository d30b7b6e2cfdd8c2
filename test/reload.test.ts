import assert from 'node:assert/strict'
import { readFile, symlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { isOutriggerError } from '../src/errors.js'
import { startSupervisor } from '../src/start.js'
import type { Supervisor } from '../src/supervisor/types.js'
import { assertBooks } from './helpers/books.js'
import { PluginDir, core, memoryLogger, worker } from './helpers/plugins.js'
import { alive, until } from './helpers/wait.js'

const isolations = (process.env.ISOLATION ? [process.env.ISOLATION] : ['thread', 'process']) as Array<'thread' | 'process'>

/**
 * A worker plugin that appends `<version> <event> <id>` to a file of its data folder for each
 * event it runs; `extra` adds hooks or an init of the version under test.
 */
const workerCode = (version: string, hooks: string[], extra = '') => `
import { appendFileSync } from 'node:fs'
let dir
export default {
  init(ctx) { dir = ctx.dataDir ${extra} },
  hooks: {
${hooks.map((h) => `    '${h}'(p, ctx, meta) { appendFileSync(dir + '/seen.log', '${version} ' + meta.event + ' ' + (p?.id ?? '') + '\\n') },`).join('\n')}
  },
  functions: { version() { return '${version}' } },
}`

async function seen(dir: PluginDir, plugin: string): Promise<string[]> {
  const text = await readFile(path.join(dir.stateDir, 'data', plugin, 'seen.log'), 'utf8').catch(() => '')
  return text.split('\n').filter(Boolean)
}

const row = (sup: Supervisor, name: string) => sup.status().plugins.find((p) => p.name === name)

for (const isolation of isolations) {
  describe(`live reload of a worker plugin (${isolation})`, () => {
    let dir: PluginDir
    beforeEach(async () => {
      dir = await PluginDir.create()
    })
    afterEach(() => dir.remove())

    it('rolls every instance onto the new code, and a hook the new code adds is delivered', async () => {
      await dir.add('rolling', worker('rolling', { isolation, instances: 2 }), workerCode('v1', ['a:x']))
      const sup = await dir.start()
      const before = row(sup, 'rolling')!.instances.map((i) => `${i.pid}/${i.threadId}`)
      sup.emit('a:x', { id: 1 })
      await until('v1 ran a:x', async () => (await seen(dir, 'rolling')).includes('v1 a:x 1'))

      await dir.add('rolling', worker('rolling', { isolation, instances: 2 }, { version: '2.0.0' }), workerCode('v2', ['a:x', 'b:y']), { enable: false })
      const r = await sup.reload('rolling')
      assert.deepEqual([r.plugin, r.from, r.to, r.instances], ['rolling', '1.0.0', '2.0.0', 2])

      const p = row(sup, 'rolling')!
      assert.equal(p.version, '2.0.0')
      assert.equal(p.state, 'running')
      assert.deepEqual([...p.hooks].sort(), ['a:x', 'b:y'])
      const after = p.instances.map((i) => `${i.pid}/${i.threadId}`)
      for (const b of before) assert.ok(!after.includes(b), `instance ${b} was replaced (now ${after.join(', ')})`)
      assert.ok(p.instances.every((i) => i.state === 'running'))

      sup.emit('b:y', { id: 2 })
      sup.emit('a:x', { id: 3 })
      await until('v2 ran both hooks', async () => {
        const lines = await seen(dir, 'rolling')
        return lines.includes('v2 b:y 2') && lines.includes('v2 a:x 3')
      })
      assert.equal(await sup.call('rolling.version'), 'v2')
      assertBooks(row(sup, 'rolling')!)
    })

    it('a reload whose new code fails to init keeps the old instances serving, answers the error and logs it', async () => {
      const log = memoryLogger()
      await dir.add('steady', worker('steady', { isolation, instances: 2 }), workerCode('v1', ['a:x']))
      const sup = await dir.start({ logger: log.logger })
      const before = row(sup, 'steady')!.instances.map((i) => `${i.pid}/${i.threadId}`)

      await dir.add('steady', worker('steady', { isolation, instances: 2 }, { version: '2.0.0' }), workerCode('v2', ['a:x'], "; throw new Error('v2 cannot start')"), { enable: false })
      await assert.rejects(sup.reload('steady'), (err) => {
        assert.ok(isOutriggerError(err, 'RIG_ERR_RELOAD_FAILED'), String(err))
        assert.match(err.message, /plugin "steady": reload failed, the running instances keep the old code: .*v2 cannot start/)
        return true
      })
      assert.ok(log.lines.some((l) => l.level === 'error' && /reload of "steady" failed/.test(l.msg ?? '')), 'the failure is logged')

      const p = row(sup, 'steady')!
      assert.equal(p.version, '1.0.0')
      assert.equal(p.state, 'running')
      assert.deepEqual(p.instances.map((i) => `${i.pid}/${i.threadId}`), before)
      for (let id = 0; id < 20; id++) sup.emit('a:x', { id })
      await until('the old code ran every event', async () => (await seen(dir, 'steady')).filter((l) => l.startsWith('v1 a:x')).length === 20)
      assert.equal(await sup.call('steady.version'), 'v1')

      // A new code that does not even import, or a manifest that no longer parses: the same.
      await dir.add('steady', worker('steady', { isolation, instances: 2 }, { version: '2.0.0' }), 'export default {{', { enable: false })
      await assert.rejects(sup.reload('steady'), (err) => isOutriggerError(err, 'RIG_ERR_RELOAD_FAILED') && /failed to load/.test(err.message))
      await dir.add('steady', '{ "name": "steady", "version": 2 }', workerCode('v3', ['a:x']), { enable: false })
      await assert.rejects(sup.reload('steady'), (err) => isOutriggerError(err, 'RIG_ERR_RELOAD_FAILED') && /manifest/.test(err.message))
      assert.equal(row(sup, 'steady')!.version, '1.0.0')
      assert.equal(await sup.call('steady.version'), 'v1')
      assertBooks(row(sup, 'steady')!)
    })

    it('an old instance stuck in an endless loop is killed during the hand-over, and the reload completes', async () => {
      const w = { isolation, delivery: 'at-least-once', limits: { unresponsiveMs: 1000 } }
      await dir.add('stuck', worker('stuck', w), workerCode('v1', ['a:x']).replace("hooks: {", "hooks: {\n    'a:hang'() { for (;;); },"))
      const sup = await dir.start()
      sup.emit('a:hang', { id: 0 })
      await until('the hang is in flight', () => row(sup, 'stuck')!.events.inFlight === 1)
      await dir.add('stuck', worker('stuck', w, { version: '2.0.0' }), workerCode('v2', ['a:x']), { enable: false })
      const r = await sup.reload('stuck')
      assert.equal(r.to, '2.0.0')
      sup.emit('a:x', { id: 1 })
      await until('the new code runs', async () => (await seen(dir, 'stuck')).includes('v2 a:x 1'))
      const p = row(sup, 'stuck')!
      // The blocked event was the only one its batch held: it failed for good, and is counted.
      assert.equal(p.events.failed, 1)
      assert.equal(p.lastError?.code, 'RIG_ERR_HANDLER_TIMEOUT')
      assertBooks(p)
    })

    it('a durable plugin keeps its journal across a reload: every event runs once', async () => {
      const w = { isolation, delivery: 'durable' }
      await dir.add('kept', worker('kept', w), workerCode('v1', ['d:e']))
      const sup = await dir.start()
      await dir.add('kept', worker('kept', w, { version: '2.0.0' }), workerCode('v2', ['d:e']), { enable: false })
      for (let id = 0; id < 300; id++) sup.emit('d:e', { id })
      const reloading = sup.reload('kept')
      for (let id = 300; id < 600; id++) sup.emit('d:e', { id })
      await reloading
      await sup.flush()
      await until('every event ran', () => row(sup, 'kept')!.events.processed === 600, 30_000)
      const ids = (await seen(dir, 'kept')).map((l) => Number(l.split(' ')[2]))
      assert.equal(ids.length, 600)
      assert.equal(new Set(ids).size, 600)
      assertBooks(row(sup, 'kept')!)
    })

    it('keeps at-least-once and partition order across a reload', async () => {
      const w = { isolation, instances: 2, delivery: 'at-least-once', partitionBy: 'key', queue: { max: 100_000 } }
      const ordered = (version: string) => `
import { appendFileSync } from 'node:fs'
let file
export default {
  init(ctx) { file = ctx.dataDir + '/order.log' },
  hooks: { 'o:e'(p) {
    for (const t = Date.now(); Date.now() - t < 1;);
    appendFileSync(file, '${version} ' + p.key + ' ' + p.n + '\\n')
  } },
}`
      await dir.add('ordered', worker('ordered', w), ordered('v1'))
      const sup = await dir.start()
      const keys = ['a', 'b', 'c', 'd', 'e', 'f']
      const per = 300
      let n = 0
      // Events keep coming while the instances roll.
      const emitting = (async () => {
        for (; n < per; n++) {
          for (const key of keys) sup.emit('o:e', { key, n })
          if (n % 20 === 0) await new Promise((r) => setImmediate(r))
        }
      })()
      await dir.add('ordered', worker('ordered', w, { version: '2.0.0' }), ordered('v2'), { enable: false })
      await until('some events ran before the reload', async () => (await readFile(path.join(dir.stateDir, 'data', 'ordered', 'order.log'), 'utf8').catch(() => '')).length > 0)
      await sup.reload('ordered')
      await emitting
      // And some after it, so the new code runs a part of every key's sequence.
      const after = 50
      for (let m = per; m < per + after; m++) for (const key of keys) sup.emit('o:e', { key, n: m })
      await until('every event settled', () => {
        const p = row(sup, 'ordered')!
        return p.events.processed === keys.length * (per + after) && p.queue.depth === 0 && p.events.inFlight === 0
      }, 60_000)
      const lines = (await readFile(path.join(dir.stateDir, 'data', 'ordered', 'order.log'), 'utf8')).split('\n').filter(Boolean)
      const last = new Map<string, number>()
      for (const l of lines) {
        const [, key, num] = l.split(' ')
        const prev = last.get(key) ?? -1
        assert.ok(Number(num) > prev, `key ${key}: ${num} ran after ${prev}`)
        last.set(key, Number(num))
      }
      assert.equal(lines.length, keys.length * (per + after), 'each event ran once')
      assert.ok(lines.some((l) => l.startsWith('v2 ')), 'the new code ran some of them')
      const p = row(sup, 'ordered')!
      assert.equal(p.events.lost, 0)
      assertBooks(p)
    })
  })
}

describe('live reload: isolation and shutdown', () => {
  let dir: PluginDir
  beforeEach(async () => {
    dir = await PluginDir.create()
  })
  afterEach(() => dir.remove())

  it('moves a plugin from threads to processes when the manifest says so', async () => {
    await dir.add('mover', worker('mover', { isolation: 'thread', instances: 2 }), workerCode('v1', ['a:x']))
    const sup = await dir.start()
    assert.ok(row(sup, 'mover')!.instances.every((i) => i.pid === process.pid && i.threadId > 0))
    await dir.add('mover', worker('mover', { isolation: 'process', instances: 2 }, { version: '2.0.0' }), workerCode('v2', ['a:x']), { enable: false })
    await sup.reload('mover')
    const p = row(sup, 'mover')!
    assert.equal(p.isolation, 'process')
    assert.ok(p.instances.every((i) => i.pid !== process.pid && i.threadId === 0 && alive(i.pid)), JSON.stringify(p.instances))
    sup.emit('a:x', { id: 7 })
    await until('a child ran the event', async () => (await seen(dir, 'mover')).includes('v2 a:x 7'))
  })

  it('a stop during a reload ends the instance the reload started: no orphan', async () => {
    await dir.add('slow', worker('slow', { isolation: 'process' }), workerCode('v1', ['a:x']))
    const sup = await dir.start()
    const pidFile = path.join(dir.root, 'new.pid')
    const slowInit = `; (await import('node:fs')).writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)); await new Promise((r) => setTimeout(r, 1500))`
    await dir.add('slow', worker('slow', { isolation: 'process' }, { version: '2.0.0' }), workerCode('v2', ['a:x'], slowInit).replace('init(ctx) {', 'async init(ctx) {'), { enable: false })
    const reloading = sup.reload('slow')
    // It rejects while the stop runs; handled here so that is no unhandled rejection.
    reloading.catch(() => undefined)
    const pid = Number(await until('the new instance started', async () => (await readFile(pidFile, 'utf8').catch(() => '')) || undefined))
    await sup.stop()
    await assert.rejects(reloading, (err) => isOutriggerError(err, 'RIG_ERR_CLOSED') || isOutriggerError(err, 'RIG_ERR_RELOAD_FAILED'))
    await until('the new instance is gone', () => !alive(pid))
  })
})

describe('live reload of name@version folders', () => {
  let dir: PluginDir
  beforeEach(async () => {
    dir = await PluginDir.create()
  })
  afterEach(() => dir.remove())

  it('takes the newest version folder, and refuses one that is newer but broken', async () => {
    await dir.add('vers@1.0.0', worker('vers'), workerCode('v1', ['a:x']))
    const sup = await dir.start()
    await dir.add('vers@2.0.0', worker('vers', {}, { version: '2.0.0' }), workerCode('v2', ['a:x']))
    assert.deepEqual([(await sup.reload('vers')).to, await sup.call('vers.version')], ['2.0.0', 'v2'])
    assert.equal(path.basename(sup.pluginFolder('vers')!.path), 'vers@2.0.0')
    await dir.add('vers@3.0.0', '{ "name": "vers", "version": "3.0.0", "type": "worker", "worker": { "instances": 0 } }', workerCode('v3', ['a:x']))
    await assert.rejects(sup.reload('vers'), (err) => isOutriggerError(err, 'RIG_ERR_RELOAD_FAILED') && /vers@3\.0\.0 is broken/.test(err.message))
    assert.equal(await sup.call('vers.version'), 'v2')
  })
})

describe('live reload: what is refused', () => {
  let dir: PluginDir
  beforeEach(async () => {
    dir = await PluginDir.create()
  })
  afterEach(() => dir.remove())

  it('refuses a change to worker.instances, and changes nothing', async () => {
    await dir.add('fixed', worker('fixed', { instances: 1 }), workerCode('v1', ['a:x']))
    const sup = await dir.start()
    await dir.add('fixed', worker('fixed', { instances: 3 }, { version: '2.0.0' }), workerCode('v2', ['a:x']), { enable: false })
    await assert.rejects(sup.reload('fixed'), (err) => isOutriggerError(err, 'RIG_ERR_RELOAD_REFUSED') && /worker\.instances changed \(1 → 3\).*restart the host/.test(err.message))
    assert.equal(row(sup, 'fixed')!.version, '1.0.0')
    assert.equal(await sup.call('fixed.version'), 'v1')
    await assert.rejects(sup.reload('nobody'), (err) => isOutriggerError(err, 'RIG_ERR_UNKNOWN_PLUGIN'))
  })

  it('refuses a second reload while one is under way; the first one completes', async () => {
    await dir.add('busy', worker('busy'), workerCode('v1', ['a:x']))
    const sup = await dir.start()
    await dir.add('busy', worker('busy', {}, { version: '2.0.0' }), workerCode('v2', ['a:x']), { enable: false })
    const first = sup.reload('busy')
    await assert.rejects(sup.reload('busy'), (err) => isOutriggerError(err, 'RIG_ERR_RELOAD_REFUSED') && /under way/.test(err.message))
    await assert.rejects(sup.stopPlugin('busy'), (err) => isOutriggerError(err, 'RIG_ERR_RELOAD_REFUSED'))
    assert.equal((await first).to, '2.0.0')
    assert.equal(await sup.call('busy.version'), 'v2')
  })

  it('refuses a core plugin that does not say reloadable', async () => {
    await dir.add('plain', core('plain'), 'export default { hooks: { "a:x"() {} } }\n')
    const sup = await dir.start()
    await assert.rejects(sup.reload('plain'), (err) => isOutriggerError(err, 'RIG_ERR_NOT_RESTARTABLE') && /"reloadable": true/.test(err.message))
    await assert.rejects(sup.stopPlugin('plain'), (err) => isOutriggerError(err, 'RIG_ERR_NOT_RESTARTABLE'))
    assert.equal(row(sup, 'plain')!.state, 'running')
  })
})

describe('live reload of a reloadable core plugin', () => {
  let dir: PluginDir
  beforeEach(async () => {
    dir = await PluginDir.create()
  })
  afterEach(() => dir.remove())

  const heard = () => (globalThis as { __heard?: unknown[] }).__heard!
  const coreCode = (version: string, hooks: string[], extra = '') => `
const heard = globalThis.__heard
export default {
  ${extra}
  close() { heard.push('close ${version}') },
  hooks: { ${hooks.map((h) => `'${h}'(p) { heard.push('${version} ${h}') }`).join(', ')} },
  pipes: { 'q:ask'(p) { return { ...p, by: '${version}' } } },
  functions: { version() { return '${version}' } },
}`

  it('closes the old code, imports the new one under a fresh URL, and registers its new hook', async () => {
    await dir.add('hot', core('hot', { reloadable: true }), coreCode('v1', ['a:x']))
    const sup = await dir.start()
    sup.emit('a:x', {})
    await until('v1 heard a:x', () => heard().includes('v1 a:x'))

    await dir.add('hot', core('hot', { reloadable: true, version: '2.0.0' }), coreCode('v2', ['a:x', 'b:y']), { enable: false })
    const r = await sup.reload('hot')
    assert.deepEqual([r.from, r.to, r.instances], ['1.0.0', '2.0.0', 0])
    assert.ok(heard().includes('close v1'), 'the old code was closed')
    assert.equal(await sup.call('hot.version'), 'v2')
    assert.deepEqual(await sup.pipe('q:ask', { n: 1 }), { n: 1, by: 'v2' })
    sup.emit('a:x', {})
    sup.emit('b:y', {})
    await until('v2 heard both', () => heard().includes('v2 a:x') && heard().includes('v2 b:y'))
    // The old hook is gone from the bus: it heard a:x once, before the reload.
    assert.equal(heard().filter((h) => h === 'v1 a:x').length, 1)
    const p = row(sup, 'hot')!
    assert.deepEqual([p.version, p.state, [...p.hooks].sort()], ['2.0.0', 'running', ['a:x', 'b:y']])
  })

  it('reloads a factory entry: the new factory is called once with the plugin ctx', async () => {
    const factory = (v: string) => `export default (ctx) => { globalThis.__heard.push('factory ${v} ' + ctx.name); return { functions: { version() { return '${v}' } } } }\n`
    await dir.add('made', core('made', { reloadable: true }), factory('v1'))
    const sup = await dir.start()
    await dir.add('made', core('made', { reloadable: true, version: '2.0.0' }), factory('v2'), { enable: false })
    await sup.reload('made')
    assert.equal(await sup.call('made.version'), 'v2')
    assert.deepEqual(heard().filter((h) => String(h).startsWith('factory')), ['factory v1 made', 'factory v2 made'])
  })

  it('a new version that does not import leaves the old one running', async () => {
    await dir.add('hot', core('hot', { reloadable: true }), coreCode('v1', ['a:x']))
    const sup = await dir.start()
    await dir.add('hot', core('hot', { reloadable: true, version: '2.0.0' }), 'export default {{\n', { enable: false })
    await assert.rejects(sup.reload('hot'), (err) => isOutriggerError(err, 'RIG_ERR_RELOAD_FAILED') && /the old code keeps running/.test(err.message))
    assert.ok(!heard().includes('close v1'))
    assert.equal(await sup.call('hot.version'), 'v1')
    assert.equal(row(sup, 'hot')!.version, '1.0.0')
  })
})

describe('plugins enable|disable --now: live start and stop', () => {
  let dir: PluginDir
  beforeEach(async () => {
    dir = await PluginDir.create()
  })
  afterEach(() => dir.remove())

  for (const isolation of isolations) {
    it(`starts a worker plugin enabled after the start, and stops it after draining (${isolation})`, async () => {
      await dir.add('other', core('other'), 'export default {}\n')
      const sup = await dir.start()
      const slow = `
import { appendFileSync } from 'node:fs'
let dir
export default {
  init(ctx) { dir = ctx.dataDir },
  hooks: { 'l:e'(p) { return new Promise((r) => setTimeout(() => { appendFileSync(dir + '/seen.log', 'v1 l:e ' + p.id + '\\n'); r() }, 2)) } },
}`
      await dir.add('late', worker('late', { isolation, delivery: 'at-least-once' }), slow, { enable: false })
      await assert.rejects(sup.startPlugin('late'), (err) => isOutriggerError(err, 'RIG_ERR_UNKNOWN_PLUGIN') && /plugins enable late/.test(err.message))
      await symlink(path.join('..', 'available', 'late'), path.join(dir.enabled, 'late'), 'dir')
      await sup.startPlugin('late')
      assert.equal(row(sup, 'late')!.state, 'running')
      await assert.rejects(sup.startPlugin('late'), (err) => isOutriggerError(err, 'RIG_ERR_RELOAD_REFUSED') && /already loaded/.test(err.message))

      for (let id = 0; id < 200; id++) sup.emit('l:e', { id })
      assert.ok(row(sup, 'late')!.queue.depth + row(sup, 'late')!.events.inFlight > 0, 'events are still waiting when the stop begins')
      await sup.stopPlugin('late')
      // Drained before it closed: every event ran, none was left over as a dead letter.
      assert.equal(new Set(await seen(dir, 'late')).size, 200)
      assert.equal(row(sup, 'late'), undefined)
      await assert.rejects(async () => sup.listDeadLetters('late'), (err) => isOutriggerError(err, 'RIG_ERR_UNKNOWN_PLUGIN'))
      // Events for it now reach nobody, and the host goes on.
      sup.emit('l:e', { id: 999 })
      assert.equal(row(sup, 'other')!.state, 'running')
    })
  }

  it('stops and starts again a reloadable core plugin', async () => {
    await dir.add('hot', core('hot', { reloadable: true }), 'const h = globalThis.__heard; h.push("imported"); export default { hooks: { "a:x"() { h.push("a:x") } }, close() { h.push("closed") } }\n')
    const sup = await dir.start()
    const heard = (globalThis as { __heard?: unknown[] }).__heard!
    await sup.stopPlugin('hot')
    assert.ok(heard.includes('closed'))
    assert.equal(row(sup, 'hot'), undefined)
    sup.emit('a:x', {})
    await sup.startPlugin('hot')
    // Its module ran again (a fresh import), and only the started plugin hears.
    assert.equal(heard.filter((h) => h === 'imported').length, 2)
    sup.emit('a:x', {})
    await until('the started plugin hears', () => heard.includes('a:x'))
    assert.equal(heard.filter((h) => h === 'a:x').length, 1)
  })
})

describe('live reload reads the config file again', () => {
  let dir: PluginDir
  let sup: Supervisor | undefined
  beforeEach(async () => {
    dir = await PluginDir.create()
  })
  afterEach(async () => {
    await sup?.stop()
    await dir.remove()
  })

  it("applies the plugin's new options and limits from the config file", async () => {
    const code = `export default { functions: { greeting(_a, ctx) { return ctx.options.greeting } } }\n`
    await dir.add('greeter', worker('greeter', { limits: { handlerTimeoutMs: 1000 } }), code)
    const file = path.join(dir.root, 'outrigger.config.json')
    const write = (greeting: string) => writeFile(file, JSON.stringify({ logLevel: 'silent', pluginsDir: 'enabled', stateDir: 'state', plugins: { greeter: { options: { greeting } } } }))
    await write('hello')
    sup = await startSupervisor({ app: `test-${path.basename(dir.root)}`, config: file, store: 'memory', control: false, http: false })
    assert.equal(await sup.call('greeter.greeting'), 'hello')
    await write('bonjour')
    await sup.reload('greeter')
    assert.equal(await sup.call('greeter.greeting'), 'bonjour')
    // A config file that no longer parses: refused, the running code keeps its options.
    await writeFile(file, '{ not json')
    await assert.rejects(sup.reload('greeter'), (err) => isOutriggerError(err, 'RIG_ERR_CONFIG_INVALID'))
    assert.equal(await sup.call('greeter.greeting'), 'bonjour')
  })
})
