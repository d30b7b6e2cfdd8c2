import assert from 'node:assert/strict'
import { mkdir, readlink, symlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { startSupervisor } from '../src/start.js'
import type { StartedSupervisor } from '../src/start.js'
import type { Supervisor } from '../src/supervisor/types.js'
import { rig, startHost, workspace } from './helpers/cli-run.js'
import { until } from './helpers/wait.js'

/** Writes (or rewrites) a worker plugin into `available/`; its `version` function names the code. */
async function writeWorker(root: string, name: string, version: string, opts: { broken?: boolean } = {}): Promise<void> {
  const dir = path.join(root, 'plugins', 'available', name)
  await mkdir(dir, { recursive: true })
  await writeFile(path.join(dir, 'manifest.json'), JSON.stringify({ name, version, type: 'worker', worker: { isolation: 'process' } }))
  await writeFile(path.join(dir, 'index.js'), opts.broken ? `export default { init() { throw new Error('${version} is broken') } }\n` : `export default { functions: { version() { return '${version}' } } }\n`)
}

describe('reload and plugins enable|disable --now from the command line', () => {
  let ws: Awaited<ReturnType<typeof workspace>>
  let sup: Supervisor | undefined
  const app = `reload-cli-${process.pid}`
  beforeEach(async () => {
    ws = await workspace([])
  })
  afterEach(async () => {
    await sup?.stop()
    await ws.cleanup()
  })

  it('outrigger reload rolls a plugin in, and answers a failed reload with its error (exit 1)', async () => {
    await writeWorker(ws.root, 'svc', '1.0.0')
    await symlink(path.join('..', 'available', 'svc'), path.join(ws.enabled, 'svc'), 'dir')
    sup = await startHost(app, ws)
    await writeWorker(ws.root, 'svc', '2.0.0')
    const ok = await rig(['--app', app, 'reload', 'svc'], { runtimeDir: ws.runtimeDir })
    assert.equal(ok.code, 0, ok.stderr)
    assert.match(ok.stdout, /reloaded svc: 1\.0\.0 → 2\.0\.0 in \d+ ms, 1 instance\(s\) rolled/)
    assert.equal(await sup.call('svc.version'), '2.0.0')

    await writeWorker(ws.root, 'svc', '3.0.0', { broken: true })
    const bad = await rig(['--app', app, 'reload', 'svc', '--json'], { runtimeDir: ws.runtimeDir })
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /RIG_ERR_RELOAD_FAILED: plugin "svc": reload failed, the running instances keep the old code: .*3\.0\.0 is broken/)
    assert.equal(await sup.call('svc.version'), '2.0.0')
  })

  it('plugins enable --now starts the plugin in the running supervisor; disable --now drains and removes it', async () => {
    sup = await startHost(app, ws)
    await writeWorker(ws.root, 'late', '1.0.0')
    const on = await rig(['--app', app, 'plugins', 'enable', 'late', '--now', '--plugins', ws.enabled], { runtimeDir: ws.runtimeDir })
    assert.equal(on.code, 0, on.stderr)
    assert.match(on.stdout, /enabled late .*\nstarted late in the running supervisor/)
    assert.equal(await readlink(path.join(ws.enabled, 'late')), path.join('..', 'available', 'late'))
    assert.equal(await sup.call('late.version'), '1.0.0')

    const off = await rig(['--app', app, 'plugins', 'disable', 'late', '--now', '--plugins', ws.enabled], { runtimeDir: ws.runtimeDir })
    assert.equal(off.code, 0, off.stderr)
    assert.match(off.stdout, /stopped late in the running supervisor/)
    assert.equal(sup.status().plugins.find((p) => p.name === 'late'), undefined)

    // Without --now nothing changes in the running supervisor, and it says how to apply it.
    await writeWorker(ws.root, 'later', '1.0.0')
    const disk = await rig(['--app', app, 'plugins', 'enable', 'later', '--plugins', ws.enabled], { runtimeDir: ws.runtimeDir })
    assert.match(disk.stdout, /or pass --now/)
    assert.equal(sup.status().plugins.find((p) => p.name === 'later'), undefined)
  })
})

describe('POST /_/_plugins/<plugin>/reload', () => {
  let ws: Awaited<ReturnType<typeof workspace>>
  let sup: StartedSupervisor | undefined
  beforeEach(async () => {
    ws = await workspace([])
  })
  afterEach(async () => {
    await sup?.stop()
    await ws.cleanup()
  })

  it('reloads with the action header, refuses without it, and answers a failure with its code', async () => {
    await writeWorker(ws.root, 'svc', '1.0.0')
    await symlink(path.join('..', 'available', 'svc'), path.join(ws.enabled, 'svc'), 'dir')
    sup = await startSupervisor({ app: `reload-http-${process.pid}`, pluginsDir: ws.enabled, stateDir: path.join(ws.root, 'state'), store: 'memory', control: false, http: { port: 0 }, config: { logLevel: 'silent' } })
    const url = `${sup.httpUrl}/_/_plugins/svc/reload`
    await writeWorker(ws.root, 'svc', '2.0.0')

    const refused = await fetch(url, { method: 'POST' })
    assert.equal(refused.status, 403)
    assert.equal(await sup.call('svc.version'), '1.0.0')

    const res = await fetch(url, { method: 'POST', headers: { 'x-outrigger-action': 'reload' } })
    const body = (await res.json()) as { status: number; error: unknown; controller: string; action: string; result: { from: string; to: string } }
    assert.equal(res.status, 200, JSON.stringify(body))
    assert.deepEqual([body.controller, body.action, body.result.from, body.result.to], ['_plugins/svc', 'reload', '1.0.0', '2.0.0'])
    await until('the new code answers', async () => (await sup!.call('svc.version')) === '2.0.0')

    await writeWorker(ws.root, 'svc', '3.0.0', { broken: true })
    const bad = await fetch(url, { method: 'POST', headers: { 'x-outrigger-action': 'reload' } })
    const err = (await bad.json()) as { error: { code: string; message: string } }
    assert.equal(bad.status, 500)
    assert.equal(err.error.code, 'RIG_ERR_RELOAD_FAILED')
    assert.equal(await sup.call('svc.version'), '2.0.0')
    // A fixed setting changed: a conflict, not a server fault.
    const dir = path.join(ws.root, 'plugins', 'available', 'svc')
    await writeFile(path.join(dir, 'manifest.json'), JSON.stringify({ name: 'svc', version: '4.0.0', type: 'worker', worker: { isolation: 'process', instances: 2 } }))
    const conflict = await fetch(url, { method: 'POST', headers: { 'x-outrigger-action': 'reload' } })
    assert.equal(conflict.status, 409)
    assert.equal(((await conflict.json()) as { error: { code: string } }).error.code, 'RIG_ERR_RELOAD_REFUSED')
  })
})
