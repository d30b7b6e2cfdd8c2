import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { diagnosticFile, prune } from '../src/diagnostics/diagnostic-files.js'
import type { PluginStatus } from '../src/supervisor/status-types.js'
import type { Supervisor } from '../src/supervisor/types.js'
import { PluginDir, memoryLogger, worker } from './helpers/plugins.js'
import { until } from './helpers/wait.js'

const isolations = (process.env.ISOLATION ? [process.env.ISOLATION] : ['thread', 'process']) as Array<'thread' | 'process'>
const plugin = (sup: Supervisor, name: string): PluginStatus => sup.status().plugins.find((p) => p.name === name)!

/** A hook that never returns, in a function of its own name; and a function that burns CPU in `crunch`. */
const SPINNER = `
function spinForever() { let x = 0; while (true) { x = (x + 1) % 1000003 } }
import { writeFileSync } from 'node:fs'
function crunch(ms) { const end = Date.now() + ms; let x = 0; while (Date.now() < end) x = (x * 31 + 7) % 1000003; return x }
export default {
  hooks: { 'job:spin'() { spinForever() } },
  functions: { burn: ({ ms, marker }) => { if (marker) writeFileSync(marker, ''); return crunch(ms) }, ping: () => 'pong' },
}`

interface CpuProfileFile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string }; hitCount?: number }>
  samples?: number[]
}

async function readProfile(file: string): Promise<CpuProfileFile> {
  const text = await readFile(file, 'utf8')
  assert.ok(text.length > 0, `${file} is empty`)
  return JSON.parse(text) as CpuProfileFile
}

/** The samples charged to nodes of function `name`. */
function hitsOf(profile: CpuProfileFile, name: string): number {
  return profile.nodes.filter((n) => n.callFrame.functionName === name).reduce((a, n) => a + (n.hitCount ?? 0), 0)
}

for (const isolation of isolations) {
  describe(`CPU profiles (${isolation})`, () => {
    let dir: PluginDir
    beforeEach(async () => {
      dir = await PluginDir.create()
    })
    afterEach(() => dir.remove())

    it('profiles an instance spinning in while (true) before killing it, names the file, and restarts it', async () => {
      await dir.add('spinner', worker('spinner', { isolation, limits: { unresponsiveMs: 1500, profileMs: 600 } }), SPINNER)
      const { logger, lines } = memoryLogger()
      const sup = await dir.start({ logger })
      const firstPid = plugin(sup, 'spinner').instances[0].pid
      sup.emit('job:spin', {})
      const row = await until('the hung instance profiled', () => plugin(sup, 'spinner').instances[0].lastError?.profile ?? undefined, 30_000)
      await until('the instance restarted', () => {
        const p = plugin(sup, 'spinner')
        return p.restarts >= 1 && p.state === 'running' && p.instances[0].state === 'running'
      }, 30_000)

      const file = row
      assert.equal(path.dirname(file), path.join(dir.stateDir, 'profiles'))
      assert.match(path.basename(file), /^spinner-0-\d{4}-\d\d-\d\dT[\d-]+Z\.cpuprofile$/)
      const profile = await readProfile(file)
      assert.ok(hitsOf(profile, 'spinForever') > 0, `no samples in spinForever: ${JSON.stringify(profile.nodes.map((n) => [n.callFrame.functionName, n.hitCount]))}`)

      // Named in the instance's lastError, the plugin's lastError, the status row and the log line.
      const p = plugin(sup, 'spinner')
      assert.equal(p.instances[0].lastError?.code, 'RIG_ERR_WORKER_UNRESPONSIVE')
      assert.ok(p.instances[0].lastError?.message.includes(file))
      assert.equal(p.instances[0].profile, file)
      assert.equal(p.lastError?.code, 'RIG_ERR_WORKER_UNRESPONSIVE')
      assert.ok(p.lastError?.message.includes(`CPU profile: ${file}`), p.lastError?.message)
      const logged = lines.find((l) => (l.obj as { profile?: string })?.profile === file)
      assert.ok(logged, 'a log line names the profile')
      assert.equal(logged.level, 'warn')
      assert.match(String((logged.obj as { stack?: string[] }).stack?.[0]), /^spinForever \(/)
      // The new instance works.
      assert.equal(await sup.call('spinner.ping'), 'pong')
      if (isolation === 'process') assert.notEqual(p.instances[0].pid, firstPid)
    })

    it('profiles a healthy instance on demand, which goes on serving', async () => {
      // Heartbeats wait while `burn` holds the loop: not a hang here.
      await dir.add('spinner', worker('spinner', { isolation, limits: { unresponsiveMs: 30_000 } }), SPINNER)
      const sup = await dir.start()
      const before = plugin(sup, 'spinner').instances[0]
      const marker = path.join(dir.root, 'burning')
      const burning = sup.call('spinner.burn', { ms: 6000, marker })
      await until('the burn under way', () => existsSync(marker))
      const report = await sup.profile('spinner', { seconds: 1 })
      await burning
      assert.equal(report.plugin, 'spinner')
      assert.equal(report.instance, 0)
      assert.equal(report.ms, 1000)
      assert.ok(report.bytes > 0)
      assert.ok(hitsOf(await readProfile(report.file), 'crunch') > 0, 'samples in crunch')
      const after = plugin(sup, 'spinner')
      assert.equal(after.instances[0].profile, report.file)
      assert.deepEqual([after.restarts, after.instances[0].pid, after.instances[0].state], [0, before.pid, 'running'])

      // An idle instance: nothing runs to pause; the profile still comes, and the instance still answers.
      const idle = await sup.profile('spinner', { instance: 0, seconds: 0.2 })
      assert.ok((await readProfile(idle.file)).nodes.length > 0)
      assert.equal(await sup.call('spinner.ping'), 'pong')
      assert.equal(typeof (await sup.call('spinner.burn', { ms: 10 })), 'number')
      assert.equal(plugin(sup, 'spinner').restarts, 0)
    })
  })
}

describe('CPU profiles: refusals and settings', () => {
  let dir: PluginDir
  let sup: Supervisor
  beforeEach(async () => {
    dir = await PluginDir.create()
  })
  afterEach(() => dir.remove())

  it('with limits.profileMs 0, a hung instance is killed at once and the status says why there is no profile', async () => {
    await dir.add('spinner', worker('spinner', { limits: { unresponsiveMs: 1500, profileMs: 0 } }), SPINNER)
    sup = await dir.start()
    sup.emit('job:spin', {})
    const err = await until('the hang noted', () => plugin(sup, 'spinner').instances[0].lastError ?? undefined, 30_000)
    assert.equal(err.profile, null)
    assert.match(err.message, /no CPU profile: limits\.profileMs is 0/)
    await until('restarted', () => plugin(sup, 'spinner').restarts >= 1 && plugin(sup, 'spinner').state === 'running', 30_000)
    assert.deepEqual(await readdir(dir.stateDir).then((d) => d.includes('profiles')), false)
  })

  it('refuses what cannot be profiled with a clear error', async () => {
    await dir.add('spinner', worker('spinner', {}), SPINNER)
    await dir.add('inline', { name: 'inline', version: '1.0.0', type: 'core' }, 'export default {}\n')
    sup = await dir.start()
    await assert.rejects(sup.profile('inline'), (e: Error & { code?: string }) => e.code === 'RIG_ERR_PROFILE_UNAVAILABLE' && /core plugin/.test(e.message))
    await assert.rejects(sup.profile('nope'), { code: 'RIG_ERR_UNKNOWN_PLUGIN' })
    await assert.rejects(sup.profile('spinner', { instance: 3 }), (e: Error & { code?: string }) => e.code === 'RIG_ERR_PROFILE_UNAVAILABLE' && /instance ids are 0 to 0/.test(e.message))
    await assert.rejects(sup.profile('spinner', { seconds: 0 }), (e: Error & { code?: string }) => e.code === 'RIG_ERR_PROFILE_OPTIONS' && /seconds/.test(e.message))
    await assert.rejects(sup.profile('spinner', { seconds: 500 }), { code: 'RIG_ERR_PROFILE_OPTIONS' })
  })
})

describe('CPU profiles: failures and files', () => {
  let dir: PluginDir
  let sup: Supervisor
  beforeEach(async () => {
    dir = await PluginDir.create()
  })
  afterEach(() => dir.remove())

  it('a process killed during its profile fails the profile with RIG_ERR_PROFILE_FAILED, and is restarted', async () => {
    await dir.add('spinner', worker('spinner', { isolation: 'process' }), SPINNER)
    sup = await dir.start()
    const pid = plugin(sup, 'spinner').instances[0].pid
    const profiling = sup.profile('spinner', { seconds: 20 })
    // Killed while its profiler thread records: the pipe closes and the answer never comes.
    await until('the profile under way', async () => (await readdir(path.join(dir.stateDir, 'profiles')).catch(() => null)) !== null)
    process.kill(pid, 'SIGKILL')
    await assert.rejects(profiling, (e: Error & { code?: string }) => e.code === 'RIG_ERR_PROFILE_FAILED' && /exited before its CPU profile was written/.test(e.message))
    await until('restarted', () => plugin(sup, 'spinner').restarts >= 1 && plugin(sup, 'spinner').state === 'running', 30_000)
    assert.deepEqual(await readdir(path.join(dir.stateDir, 'profiles')), [])
  })

  it('a profiles folder that cannot be made fails the profile with the path in the message', async () => {
    await dir.add('spinner', worker('spinner', {}), SPINNER)
    sup = await dir.start()
    await mkdir(dir.stateDir, { recursive: true })
    await writeFile(path.join(dir.stateDir, 'profiles'), 'not a folder')
    await assert.rejects(sup.profile('spinner', { seconds: 0.1 }), (e: Error & { code?: string }) => e.code === 'RIG_ERR_PROFILE_FAILED' && e.message.includes(path.join(dir.stateDir, 'profiles')))
    assert.equal(await sup.call('spinner.ping'), 'pong')
  })

  it('keeps the newest 10 profiles of a plugin and leaves other plugins alone', async () => {
    const folder = path.join(dir.root, 'profiles')
    await mkdir(folder)
    const at = (i: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, i))
    for (let i = 0; i < 13; i++) await writeFile(diagnosticFile(folder, 'audit', i % 2, '.cpuprofile', at(i)), '{}')
    await writeFile(diagnosticFile(folder, 'audit-log', 0, '.cpuprofile', at(0)), '{}')
    await writeFile(path.join(folder, 'notes.txt'), 'mine')
    const gone = await prune(folder, 'audit', '.cpuprofile', 10)
    assert.deepEqual(gone.sort(), [0, 1, 2].map((i) => path.basename(diagnosticFile(folder, 'audit', i % 2, '.cpuprofile', at(i)))).sort())
    const left = await readdir(folder)
    assert.equal(left.filter((f) => f.startsWith('audit-') && !f.startsWith('audit-log')).length, 10)
    assert.ok(left.includes('notes.txt'))
    assert.ok(left.some((f) => f.startsWith('audit-log-0-')))
  })
})

describe('CPU profiles under the permission model (process)', () => {
  let dir: PluginDir
  let saved: string | undefined
  beforeEach(async () => {
    dir = await PluginDir.create()
    saved = process.env.NODE_OPTIONS
    // Read by the children forked from now on, not by this process. No --allow-worker: the
    // instance can start no profiler thread (and on Node 20 no flag allows the inspector at all).
    const flag = process.allowedNodeEnvironmentFlags.has('--permission') ? '--permission' : '--experimental-permission'
    process.env.NODE_OPTIONS = `${flag} --allow-fs-read=* --allow-fs-write=* --no-warnings`
  })
  afterEach(async () => {
    if (saved === undefined) delete process.env.NODE_OPTIONS
    else process.env.NODE_OPTIONS = saved
    await dir.remove()
  })

  it('refuses a profile with the reason, and a hung instance is still killed, its lastError saying why there is no profile', async () => {
    await dir.add('spinner', worker('spinner', { isolation: 'process', limits: { unresponsiveMs: 1500 } }), SPINNER)
    const sup = await dir.start()
    await assert.rejects(sup.profile('spinner', { seconds: 0.2 }), (e: Error & { code?: string }) => e.code === 'RIG_ERR_PROFILE_UNAVAILABLE' && /no profiler thread could start/.test(e.message))
    sup.emit('job:spin', {})
    const err = await until('the hang noted', () => plugin(sup, 'spinner').instances[0].lastError ?? undefined, 30_000)
    assert.equal(err.profile, null)
    assert.match(err.message, /no CPU profile: .*no profiler thread could start/)
    await until('restarted', () => plugin(sup, 'spinner').restarts >= 1 && plugin(sup, 'spinner').state === 'running', 30_000)
  })
})
