import assert from 'node:assert/strict'
import { symlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { discover } from '../src/manifest/discovery.js'
import { OutriggerError } from '../src/errors.js'
import { PluginDir, core } from './helpers/plugins.js'

describe('discovery', () => {
  let dir: PluginDir
  beforeEach(async () => {
    dir = await PluginDir.create()
  })
  afterEach(() => dir.remove())

  it('finds folders and symlinks into available/, and reports and skips dead symlinks', async () => {
    await dir.add('alpha', core('alpha'))
    await dir.add('beta', core('beta'))
    await symlink(path.join('..', 'available', 'gone'), path.join(dir.enabled, 'gone'))
    await writeFile(path.join(dir.enabled, 'README.txt'), 'not a plugin')
    const { plugins, warnings } = await discover(dir.enabled)
    assert.deepEqual(plugins.map((p) => p.name), ['alpha', 'beta'])
    assert.equal(warnings.length, 1)
    assert.match(warnings[0], /gone: dead symlink, skipped/)
  })

  it('picks the highest semver among name@version folders and lists the rest as shadowed', async () => {
    await dir.add('calc@1.9.0', core('calc', { version: '1.9.0' }))
    await dir.add('calc@1.10.0', core('calc', { version: '1.10.0' }))
    await dir.add('calc@1.2.0', core('calc', { version: '1.2.0' }))
    const { plugins } = await discover(dir.enabled)
    assert.equal(plugins.length, 1)
    assert.equal(plugins[0].manifest?.version, '1.10.0', 'semver order, not string order')
    assert.deepEqual(plugins[0].shadowed.sort(), ['calc@1.2.0', 'calc@1.9.0'])
  })

  it('refuses a plugin whose engine range excludes this Outrigger', async () => {
    await dir.add('future', core('future', { engine: '>=99.0.0' }))
    await dir.add('fine', core('fine', { engine: '>=0.1.0' }))
    const { plugins } = await discover(dir.enabled)
    const future = plugins.find((p) => p.name === 'future')!
    assert.equal(future.error?.code, 'RIG_ERR_ENGINE_MISMATCH')
    assert.match(future.error!.message, /needs Outrigger >=99.0.0, this is 0\.1\.0/)
    assert.equal(plugins.find((p) => p.name === 'fine')?.error, undefined)
  })

  it('keeps a plugin with a bad manifest under its folder name with the error', async () => {
    await dir.add('broken', '{nope')
    const { plugins } = await discover(dir.enabled)
    assert.equal(plugins[0].name, 'broken')
    assert.equal(plugins[0].error?.code, 'RIG_ERR_MANIFEST_INVALID')
  })

  it('says clearly when the plugins folder is missing', async () => {
    const err = await discover(path.join(dir.root, 'nowhere')).catch((e: OutriggerError) => e)
    assert.ok(err instanceof OutriggerError)
    assert.equal(err.code, 'RIG_ERR_PLUGINS_DIR')
    assert.match(err.message, /nowhere does not exist; create it .* or pass --plugins/)
  })
})
