import assert from 'node:assert/strict'
import path from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { OutriggerError } from '../src/errors.js'
import { discover } from '../src/manifest/discovery.js'
import { startSupervisor } from '../src/start.js'
import { rig } from './helpers/cli-run.js'
import { PluginDir, core, memoryLogger } from './helpers/plugins.js'

/** calc@1.0.0 works; calc@2.0.0 (newer) and calc@0.9.0 (older) have manifests that fail. */
async function threeVersions(dir: PluginDir): Promise<void> {
  await dir.add('calc@1.0.0', core('calc'), 'export default { functions: { version: () => "1.0.0" } }')
  await dir.add('calc@2.0.0', { ...core('calc', { version: '2.0.0' }), tpye: 'core' })
  await dir.add('calc@0.9.0', '{ not json')
}

describe('a broken name@version folder beside a working one', () => {
  let dir: PluginDir
  beforeEach(async () => {
    dir = await PluginDir.create()
  })
  afterEach(() => dir.remove())

  it('is listed as broken, with its error and whether it is newer, and warned about', async () => {
    await threeVersions(dir)
    const { plugins, warnings } = await discover(dir.enabled)
    assert.equal(plugins.length, 1)
    assert.equal(plugins[0].manifest?.version, '1.0.0')
    assert.deepEqual(plugins[0].shadowed.sort(), ['calc@0.9.0', 'calc@2.0.0'])
    const broken = Object.fromEntries((plugins[0].broken ?? []).map((b) => [b.folder, b]))
    assert.equal(broken['calc@2.0.0'].newer, true)
    assert.equal(broken['calc@0.9.0'].newer, false)
    assert.equal(broken['calc@2.0.0'].error.code, 'RIG_ERR_MANIFEST_INVALID')
    assert.match(broken['calc@2.0.0'].error.message, /tpye/)
    const newer = warnings.find((w) => w.startsWith('calc@2.0.0'))
    assert.match(newer ?? '', /calc@2\.0\.0 is broken and calc@1\.0\.0 \(1\.0\.0\) runs instead, although the broken one is newer/)
  })

  it('shows in the status report under shadowedBroken, while the working version serves', async () => {
    await threeVersions(dir)
    const { logger, lines } = memoryLogger()
    const sup = await dir.start({ logger })
    assert.equal(await sup.call('calc.version'), '1.0.0')
    const [calc] = sup.status().plugins
    assert.equal(calc.state, 'running')
    assert.deepEqual(calc.shadowedBroken?.map((b) => [b.folder, b.newer]).sort(), [['calc@0.9.0', false], ['calc@2.0.0', true]])
    assert.ok(lines.some((l) => l.level === 'warn' && /calc@2\.0\.0 is broken/.test(l.msg ?? '')), 'the start logs the broken version')
  })

  it('makes --strict refuse to start, naming the broken folder', async () => {
    await threeVersions(dir)
    const err = await dir.start({ strict: true }).catch((e: OutriggerError) => e)
    assert.ok(err instanceof OutriggerError)
    assert.equal(err.code, 'RIG_ERR_STRICT_START')
    assert.match(err.message, /calc@2\.0\.0 \(broken version folder\)/)
  })

  it('is marked broken by `plugins list`, from disk and from a running supervisor', async () => {
    await threeVersions(dir)
    const runtimeDir = path.join(dir.root, 'run')
    const onDisk = await rig(['plugins', 'list', '--plugins', dir.enabled], { runtimeDir })
    assert.match(onDisk.stdout, /calc@2\.0\.0 \(broken, newer\)/)
    assert.match(onDisk.stdout, /calc@2\.0\.0: broken \(newer than the running version\): RIG_ERR_MANIFEST_INVALID/)
    const sup = await startSupervisor({ app: 'broken-versions', pluginsDir: dir.enabled, stateDir: dir.stateDir, store: 'memory', http: false, control: { runtimeDir }, config: { logLevel: 'silent' } })
    try {
      const live = await rig(['plugins', 'list', '--app', 'broken-versions'], { runtimeDir })
      assert.equal(live.code, 0, live.stderr)
      assert.match(live.stdout, /calc@0\.9\.0 \(broken\)/)
      assert.match(live.stdout, /calc@2\.0\.0 \(broken, newer\)/)
      const described = await rig(['plugins', 'describe', 'calc', '--app', 'broken-versions'], { runtimeDir })
      assert.match(described.stdout, /calc@2\.0\.0: broken \(newer than the running version\)/)
    } finally {
      await sup.stop()
    }
  })
})
