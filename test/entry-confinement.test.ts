/**
 * A plugin's entry may not escape its folder through a symlink: `main` is confined by its real
 * path, and such a plugin is refused with RIG_ERR_MANIFEST_INVALID before any of its code runs.
 * A plugin folder that is itself a symlink is fine; one resolving outside the plugins folder and
 * `available/` loads, but `plugins describe` says it comes from outside.
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdir, symlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { after, afterEach, before, beforeEach, describe, it } from 'node:test'
import { request } from '../src/control/client.js'
import { isOutriggerError } from '../src/errors.js'
import { loadManifest } from '../src/manifest/load.js'
import type { Supervisor } from '../src/supervisor/types.js'
import { rig, startHost, workspace } from './helpers/cli-run.js'
import { PluginDir, core, worker } from './helpers/plugins.js'

/** A module outside every plugin folder that leaves a marker file when it is imported. */
async function foreignModule(root: string, name: string): Promise<{ file: string; marker: string }> {
  const outside = path.join(root, 'outside', name)
  await mkdir(outside, { recursive: true })
  const marker = path.join(outside, 'ran')
  const file = path.join(outside, 'evil.js')
  await writeFile(file, `import { writeFileSync } from 'node:fs'\nwriteFileSync(${JSON.stringify(marker)}, 'ran')\nexport default { functions: { who: () => 'foreign' } }\n`)
  await writeFile(path.join(outside, 'package.json'), '{"type":"module"}\n')
  return { file, marker }
}

describe('entry confinement', () => {
  let dir: PluginDir
  beforeEach(async () => {
    dir = await PluginDir.create()
  })
  afterEach(() => dir.remove())

  it('refuses a main that is a symlink to a file outside the plugin folder, naming the real path', async () => {
    const { file } = await foreignModule(dir.root, 'a')
    const pluginDir = await dir.add('linked', core('linked', { main: 'entry.js' }), undefined, { enable: false })
    await symlink(file, path.join(pluginDir, 'entry.js'))
    await assert.rejects(
      loadManifest(pluginDir),
      (e) => isOutriggerError(e, 'RIG_ERR_MANIFEST_INVALID') && e.message.includes('manifest.json: main: "entry.js" resolves through a symlink to ' + file) && /outside the plugin folder/.test(e.message),
    )
  })

  it('refuses a main reached through a symlinked folder, and a symlink loop', async () => {
    const { file } = await foreignModule(dir.root, 'b')
    const viaDir = await dir.add('viadir', core('viadir', { main: 'lib/evil.js' }), undefined, { enable: false })
    await symlink(path.dirname(file), path.join(viaDir, 'lib'), 'dir')
    await assert.rejects(loadManifest(viaDir), (e) => isOutriggerError(e, 'RIG_ERR_MANIFEST_INVALID') && /main: "lib\/evil\.js" resolves through a symlink to .*evil\.js, outside/.test(e.message))

    const loop = await dir.add('loop', core('loop', { main: 'a.js' }), undefined, { enable: false })
    await symlink('b.js', path.join(loop, 'a.js'))
    await symlink('a.js', path.join(loop, 'b.js'))
    await assert.rejects(loadManifest(loop), (e) => isOutriggerError(e, 'RIG_ERR_MANIFEST_INVALID') && /main: "a\.js" is a symlink loop/.test(e.message))
  })

  it('accepts a main that is a symlink to a file inside the plugin folder', async () => {
    const pluginDir = await dir.add('inner', core('inner', { main: 'current.js' }), 'export default { functions: { who: () => "inner" } }\n')
    await mkdir(path.join(pluginDir, 'dist'))
    await writeFile(path.join(pluginDir, 'dist', 'v2.js'), 'export default { functions: { who: () => "v2" } }\n')
    await symlink(path.join('dist', 'v2.js'), path.join(pluginDir, 'current.js'))
    const sup = await dir.start()
    assert.equal(await sup.call('inner.who'), 'v2')
  })

  it('never runs an escaping core entry: the plugin is listed failed with RIG_ERR_MANIFEST_INVALID', async () => {
    const { file, marker } = await foreignModule(dir.root, 'c')
    const pluginDir = await dir.add('sneaky', core('sneaky', { main: 'entry.js' }))
    await symlink(file, path.join(pluginDir, 'entry.js'))
    const sup = await dir.start()
    const p = sup.status().plugins.find((x) => x.name === 'sneaky')!
    assert.equal(p.state, 'failed')
    assert.equal(p.lastError?.code, 'RIG_ERR_MANIFEST_INVALID')
    assert.match(p.lastError?.message ?? '', /outside the plugin folder/)
    assert.equal(existsSync(marker), false, 'the foreign module was never imported')
  })

  for (const isolation of (process.env.ISOLATION ? [process.env.ISOLATION] : ['thread', 'process']) as Array<'thread' | 'process'>) {
    it(`never runs an escaping worker entry (${isolation}), while a confined one next to it runs`, async () => {
      const { file, marker } = await foreignModule(dir.root, `w-${isolation}`)
      const pluginDir = await dir.add('sneakyw', worker('sneakyw', { isolation }, { main: 'entry.js' }))
      await symlink(file, path.join(pluginDir, 'entry.js'))
      await dir.add('honest', worker('honest', { isolation }), 'export default { functions: { who: () => "honest" } }\n')
      const sup = await dir.start()
      const p = sup.status().plugins.find((x) => x.name === 'sneakyw')!
      assert.equal(p.state, 'failed')
      assert.equal(p.lastError?.code, 'RIG_ERR_MANIFEST_INVALID')
      assert.equal(await sup.call('honest.who'), 'honest')
      assert.equal(existsSync(marker), false, 'the foreign module was never imported')
    })
  }
})

describe('plugin folders reached through symlinks', () => {
  let ws: Awaited<ReturnType<typeof workspace>>
  let sup: Supervisor

  /** A core plugin at `dir` answering `<name>.who`. */
  async function plugin(dir: string, name: string): Promise<void> {
    await mkdir(dir, { recursive: true })
    await writeFile(path.join(dir, 'manifest.json'), JSON.stringify(core(name)))
    await writeFile(path.join(dir, 'index.js'), `export default { functions: { who: () => ${JSON.stringify(name)} } }\n`)
  }

  before(async () => {
    ws = await workspace([])
    const available = path.join(ws.root, 'plugins', 'available')
    await plugin(path.join(available, 'local'), 'local')
    await symlink(path.join('..', 'available', 'local'), path.join(ws.enabled, 'local'), 'dir')
    await plugin(path.join(ws.enabled, 'inplace'), 'inplace')
    await plugin(path.join(ws.root, 'elsewhere', 'far'), 'far')
    await symlink(path.join(ws.root, 'elsewhere', 'far'), path.join(ws.enabled, 'far'), 'dir')
    sup = await startHost('folders', ws)
  })
  after(async () => {
    await sup.stop()
    await ws.cleanup()
  })

  it('loads all three, and `plugins describe` marks only the one from outside', async () => {
    for (const name of ['local', 'inplace', 'far']) assert.equal(await sup.call(`${name}.who`), name)
    const target = { app: 'folders', runtimeDir: ws.runtimeDir }
    const describe = async (name: string) => (await request(target, 'plugins.describe', { name })) as { name: string; folder: { path: string; outside: boolean } }
    assert.deepEqual((await describe('local')).folder, { path: path.join(ws.root, 'plugins', 'available', 'local'), outside: false })
    assert.deepEqual((await describe('inplace')).folder, { path: path.join(ws.enabled, 'inplace'), outside: false })
    assert.deepEqual((await describe('far')).folder, { path: path.join(ws.root, 'elsewhere', 'far'), outside: true })

    const far = await rig(['--app', 'folders', 'plugins', 'describe', 'far'], { runtimeDir: ws.runtimeDir })
    assert.equal(far.code, 0, far.stderr)
    assert.match(far.stdout, new RegExp(`folder\\s+${path.join(ws.root, 'elsewhere', 'far').replace(/[/.]/g, '\\$&')} \\(from outside: not under the plugins folder or \\.\\./available\\)`))
    const local = await rig(['--app', 'folders', 'plugins', 'describe', 'local'], { runtimeDir: ws.runtimeDir })
    assert.match(local.stdout, /folder\s+\S+available\/local\n/)
    assert.doesNotMatch(local.stdout, /from outside/)
    const json = JSON.parse((await rig(['--app', 'folders', 'plugins', 'describe', 'far', '--json'], { runtimeDir: ws.runtimeDir })).stdout)
    assert.equal(json.folder.outside, true)
  })
})
