import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { StartedSupervisor } from '../src/start.js'
import { rig } from './helpers/cli-run.js'
import { PluginDir, core, worker } from './helpers/plugins.js'

/** `outrigger profile` and `POST /_/_plugins/<plugin>/profile` against a real supervisor. */
describe('profiles on demand: the CLI and HTTP', () => {
  let dir: PluginDir
  let sup: StartedSupervisor
  let runtimeDir: string
  let app: string
  before(async () => {
    dir = await PluginDir.create()
    await dir.add('busy', worker('busy', { isolation: 'thread' }), `export default { functions: { ping: () => 'pong' } }`)
    await dir.add('inline', core('inline'))
    runtimeDir = path.join(dir.root, 'run')
    app = `profile-${path.basename(dir.root)}`
    sup = (await dir.start({ app, control: { runtimeDir }, http: { port: 0 } })) as StartedSupervisor
  })
  after(() => dir.remove())

  it('outrigger profile writes a profile and names it; status names it too', async () => {
    const r = await rig(['profile', 'busy', '--seconds', '0.3', '--app', app], { runtimeDir })
    assert.equal(r.code, 0, r.stderr)
    const file = /in (\S+\.cpuprofile)/.exec(r.stdout)?.[1]
    assert.ok(file && existsSync(file), r.stdout)
    assert.equal(path.dirname(file), path.join(dir.stateDir, 'profiles'))
    const json = await rig(['profile', 'busy', '--instance', '0', '--seconds', '0.2', '--json', '--app', app], { runtimeDir })
    assert.equal(json.code, 0, json.stderr)
    const report = JSON.parse(json.stdout) as { plugin: string; instance: number; ms: number; file: string; bytes: number }
    assert.deepEqual([report.plugin, report.instance, report.ms], ['busy', 0, 200])
    assert.ok(report.bytes > 0 && existsSync(report.file))
    const status = await rig(['status', '--app', app], { runtimeDir })
    assert.ok(status.stdout.includes(`busy #0: CPU profile ${report.file}`), status.stdout)
  })

  it('refuses bad flags as usage errors, and an unknown plugin or a core one with their codes', async () => {
    for (const bad of [['--seconds', '0'], ['--seconds', 'abc'], ['--seconds', '121'], ['--instance', '-1'], ['--instance', '1.5']]) {
      const r = await rig(['profile', 'busy', ...bad, '--app', app], { runtimeDir })
      assert.equal(r.code, 2, `${bad.join(' ')}: ${r.stderr}`)
    }
    const unknown = await rig(['profile', 'nope', '--app', app], { runtimeDir })
    assert.equal(unknown.code, 1)
    assert.match(unknown.stderr, /RIG_ERR_UNKNOWN_PLUGIN/)
    const inline = await rig(['profile', 'inline', '--app', app], { runtimeDir })
    assert.equal(inline.code, 1)
    assert.match(inline.stderr, /RIG_ERR_PROFILE_UNAVAILABLE: .*core plugin/)
    const noInstance = await rig(['profile', 'busy', '--instance', '4', '--app', app], { runtimeDir })
    assert.match(noInstance.stderr, /RIG_ERR_PROFILE_UNAVAILABLE: .*instance ids are 0 to 0/)
  })

  it('POST /_/_plugins/<plugin>/profile answers the report in the envelope; refusals have their statuses', async () => {
    const url = `${sup.httpUrl}/_/_plugins/busy/profile`
    const post = (body: unknown, headers: Record<string, string> = { 'x-outrigger-action': '1' }) =>
      fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
    const ok = await post({ seconds: 0.2 })
    assert.equal(ok.status, 200)
    const env = (await ok.json()) as { status: number; controller: string; action: string; result: { file: string; ms: number } }
    assert.deepEqual([env.controller, env.action, env.result.ms], ['_plugins/busy', 'profile', 200])
    assert.ok(existsSync(env.result.file))
    assert.equal((await post({ seconds: 0.2 }, {})).status, 403)
    const bad = await post({ seconds: -1 })
    assert.equal(bad.status, 400)
    assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'RIG_ERR_PROFILE_OPTIONS')
    const inline = await fetch(`${sup.httpUrl}/_/_plugins/inline/profile`, { method: 'POST', headers: { 'x-outrigger-action': '1' } })
    assert.equal(inline.status, 409)
    assert.equal(((await inline.json()) as { error: { code: string } }).error.code, 'RIG_ERR_PROFILE_UNAVAILABLE')
    assert.equal((await fetch(url)).status, 405)
  })
})
