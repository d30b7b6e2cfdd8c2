import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, readFile, realpath, symlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { nodeSupport } from '../src/hosts/permission-flags.js'
import type { PluginStatus } from '../src/supervisor/status-types.js'
import type { Supervisor } from '../src/supervisor/types.js'
import { rig, startHost, workspace } from './helpers/cli-run.js'
import { PluginDir, worker } from './helpers/plugins.js'
import { alive, until } from './helpers/wait.js'

const EMITTING_HOST = fileURLToPath(new URL('./helpers/emitting-host.js', import.meta.url))

/** Reads the file a payload names; `write` writes one. Both tell what they did through a function. */
const FILE_PLUGIN = `
import { readFileSync, writeFileSync } from 'node:fs'
let last = null
export default {
  hooks: {
    'file:read'(p) { last = readFileSync(p.file, 'utf8') },
    'file:write'(p, ctx) { writeFileSync(p.file ?? ctx.dataDir + '/out.txt', 'written') },
  },
  functions: { last() { return last }, pid() { return process.pid } },
}
`

const of = (sup: Supervisor, name: string): PluginStatus => sup.status().plugins.find((p) => p.name === name)!

describe('the permission model for process workers (wave 2 §3)', () => {
  let dir: PluginDir
  beforeEach(async () => {
    dir = await PluginDir.create()
  })
  afterEach(async () => {
    await dir.remove()
  })

  it(`a denied read fails its hook with ERR_ACCESS_DENIED; allowed reads work (Node ${process.versions.node})`, async () => {
    // A secret beside the plugins, and a shared file the plugin is allowed, named relative to its folder.
    const secret = path.join(dir.root, 'secret.txt')
    const shared = path.join(dir.root, 'shared.txt')
    await writeFile(secret, 'do not read')
    await writeFile(shared, 'shared text')
    const folder = await dir.add('reader', worker('reader', { isolation: 'process', permissions: { fs: { read: ['../../shared.txt'] } } }), FILE_PLUGIN, { files: { 'own.txt': 'own text' } })
    const sup = await dir.start()
    const pid = await sup.call('reader.pid', null)

    sup.emit('file:read', { file: secret })
    await until('the denied read counted', () => of(sup, 'reader').events.failed === 1)
    const denied = of(sup, 'reader')
    assert.equal(denied.lastError?.code, 'ERR_ACCESS_DENIED')
    // The message names what was refused and the field that would allow it.
    assert.match(denied.lastError!.message, /FileSystemRead .*secret\.txt/)
    assert.match(denied.lastError!.message, /worker\.permissions\.fs\.read/)

    sup.emit('file:read', { file: shared })
    await until('the allowed read processed', () => of(sup, 'reader').events.processed === 1)
    assert.equal(await sup.call('reader.last', null), 'shared text')
    // Its own folder is always readable.
    sup.emit('file:read', { file: path.join(folder, 'own.txt') })
    await until('its own file read', () => of(sup, 'reader').events.processed === 2)
    assert.equal(await sup.call('reader.last', null), 'own text')

    // The instance lived through the refusal: same process, no restart, heartbeats answered.
    const row = of(sup, 'reader')
    assert.equal(row.events.failed, 1)
    assert.equal(row.restarts, 0)
    assert.equal(row.state, 'running')
    assert.equal(await sup.call('reader.pid', null), pid)
    const beat = row.instances[0].lastHeartbeatMs
    await until('a later heartbeat', () => of(sup, 'reader').instances[0].lastHeartbeatMs !== beat, 15_000)
    assert.equal(of(sup, 'reader').instances[0].state, 'running')
  })

  it('writes only its data folder, unless more is allowed', async () => {
    const outside = path.join(dir.root, 'outside.txt')
    const allowed = path.join(dir.root, 'allowed-out')
    await dir.add('writer', worker('writer', { isolation: 'process', permissions: { fs: { write: ['../../allowed-out'] } } }), FILE_PLUGIN)
    const sup = await dir.start()
    sup.emit('file:write', {})
    sup.emit('file:write', { file: outside })
    sup.emit('file:write', { file: allowed })
    await until('three writes settled', () => {
      const e = of(sup, 'writer').events
      return e.processed + e.failed === 3 && e
    })
    const row = of(sup, 'writer')
    assert.deepEqual([row.events.processed, row.events.failed], [2, 1])
    assert.equal(row.lastError?.code, 'ERR_ACCESS_DENIED')
    assert.match(row.lastError!.message, /FileSystemWrite .*outside\.txt.*worker\.permissions\.fs\.write/)
    assert.equal(existsSync(outside), false)
    assert.equal(await readFile(path.join(dir.stateDir, 'data', 'writer', 'out.txt'), 'utf8'), 'written')
    assert.equal(await readFile(allowed, 'utf8'), 'written')
  })

  it('refuses child processes unless childProcess is set', async () => {
    const code = `
      import { execFileSync } from 'node:child_process'
      export default { functions: { run() { return execFileSync(process.execPath, ['-p', '6*7'], { encoding: 'utf8' }).trim() } } }`
    await dir.add('closed', worker('closed', { isolation: 'process', permissions: {} }), code)
    await dir.add('open', worker('open', { isolation: 'process', permissions: { childProcess: true } }), code)
    const sup = await dir.start()
    await assert.rejects(sup.call('closed.run', null), (e: Error & { code?: string }) => e.code === 'ERR_ACCESS_DENIED')
    assert.equal(await sup.call('open.run', null), '42')
  })

  it('an entry whose import is refused fails to start, saying which path to allow', async () => {
    // A module beside the plugins that its entry imports: outside its folder, so refused.
    await writeFile(path.join(dir.root, 'lib.js'), 'export const x = 1\n')
    await dir.add('importer', worker('importer', { isolation: 'process', permissions: {}, restart: { policy: 'temporary' } }), `import '../../lib.js'\nexport default {}\n`)
    const sup = await dir.start()
    const row = of(sup, 'importer')
    assert.equal(row.state, 'failed')
    assert.equal(row.lastError?.code, 'RIG_ERR_WORKER_START')
    assert.match(row.lastError!.message, /access denied by the permission model \(FileSystemRead .*lib\.js\): add .* to worker\.permissions\.fs\.read/)
  })

  it('imports a dependency from outside its folder once fs.read lists it, through a linked node_modules too', async () => {
    // A package linked into node_modules the way pnpm and workspaces do: the loader opens its real path.
    const store = path.join(dir.root, 'store', 'dep')
    await mkdir(store, { recursive: true })
    await writeFile(path.join(store, 'package.json'), JSON.stringify({ name: 'dep', type: 'module', exports: './index.js' }))
    await writeFile(path.join(store, 'index.js'), 'export const answer = 42\n')
    await mkdir(path.join(dir.root, 'node_modules'))
    await symlink(store, path.join(dir.root, 'node_modules', 'dep'), 'dir')
    const code = `import { answer } from 'dep'\nexport default { functions: { answer() { return answer } } }\n`
    await dir.add('listed', worker('listed', { isolation: 'process', permissions: { fs: { read: ['../../node_modules/dep'] } } }), code)
    await dir.add('unlisted', worker('unlisted', { isolation: 'process', permissions: {}, restart: { policy: 'temporary' } }), code)
    const sup = await dir.start()
    assert.equal(await sup.call('listed.answer', null), 42)
    const refused = of(sup, 'unlisted')
    assert.equal(refused.state, 'failed')
    assert.match(refused.lastError!.message, /FileSystemRead .*dep.*worker\.permissions\.fs\.read/)
  })

  it('refuses permissions on a thread plugin, naming the plugin and the field', async () => {
    await dir.add('threaded', worker('threaded', { permissions: { fs: { read: ['.'] } } }), FILE_PLUGIN)
    const sup = await dir.start()
    const row = of(sup, 'threaded')
    assert.equal(row.state, 'failed')
    assert.equal(row.lastError?.code, 'RIG_ERR_MANIFEST_INVALID')
    assert.match(row.lastError!.message, /threaded.*manifest\.json: worker\.permissions: permissions apply only to "isolation": "process": a worker thread shares the host's process/)
    await sup.stop()
    // The host config cannot move a confined plugin into a thread either.
    await dir.add('confined', worker('confined', { isolation: 'process', permissions: {} }), FILE_PLUGIN)
    const again = await dir.start({ config: { plugins: { confined: { worker: { isolation: 'thread' } } } } })
    const moved = of(again, 'confined')
    assert.equal(moved.state, 'failed')
    assert.equal(moved.lastError?.code, 'RIG_ERR_CONFIG_INVALID')
    assert.match(moved.lastError!.message, /config: plugins\.confined\.worker: permissions: permissions apply only to "isolation": "process"/)
  })

  it('plugins describe shows the effective flags', async () => {
    const ws = await workspace([])
    try {
      const folder = path.join(ws.root, 'plugins', 'available', 'shown')
      await mkdir(folder, { recursive: true })
      await writeFile(path.join(folder, 'manifest.json'), JSON.stringify(worker('shown', { isolation: 'process', permissions: { fs: { read: ['conf'] }, wasi: true } })))
      await writeFile(path.join(folder, 'index.js'), 'export default {}\n')
      await symlink(path.join('..', 'available', 'shown'), path.join(ws.enabled, 'shown'), 'dir')
      const sup = await startHost('perm-describe', ws)
      try {
        const flags = of(sup, 'shown').permissions!.flags
        const real = await realpath(folder)
        assert.equal(flags[0], nodeSupport().flag)
        assert.ok(flags.includes(`--allow-fs-read=${real}`))
        assert.ok(flags.includes(`--allow-fs-read=${path.join(real, 'conf')}`))
        assert.ok(flags.includes(`--allow-fs-write=${path.join(ws.root, 'state', 'data', 'shown')}`))
        assert.ok(flags.includes('--allow-wasi'))
        assert.ok(!flags.includes('--allow-worker') && !flags.includes('--allow-child-process'))
        const text = await rig(['plugins', 'describe', 'shown', '--app', 'perm-describe'], { runtimeDir: ws.runtimeDir })
        assert.equal(text.code, 0, text.stderr)
        assert.match(text.stdout, new RegExp(`permissions +${nodeSupport().flag}`))
        assert.ok(text.stdout.includes(`--allow-fs-read=${path.join(real, 'conf')}`))
        const json = await rig(['plugins', 'describe', 'shown', '--app', 'perm-describe', '--json'], { runtimeDir: ws.runtimeDir })
        assert.deepEqual(JSON.parse(json.stdout).permissions.flags, flags)
      } finally {
        await sup.stop()
      }
    } finally {
      await ws.cleanup()
    }
  })

  for (const workerThreads of [false, true]) {
    it(`a confined child (workerThreads ${workerThreads}) leaves when its host is SIGKILLed${workerThreads ? ', even while a hook holds its loop' : ''}`, async () => {
      await dir.add('journaled', worker('journaled', { isolation: 'process', permissions: { workerThreads } }), `
        export default { hooks: { 'load:evt'() {} } }`)
      if (workerThreads) {
        // The watchdog thread ends the child although this hook never lets its event loop turn.
        await dir.add('busy', worker('busy', { isolation: 'process', permissions: { workerThreads }, limits: { unresponsiveMs: 120_000, handlerTimeoutMs: 120_000 } }), `
          export default { hooks: { 'busy:go'() { for (const t = Date.now(); Date.now() - t < 60_000;); } } }`)
      }
      const host = spawn(process.execPath, [EMITTING_HOST, dir.enabled, dir.stateDir], { stdio: ['ignore', 'pipe', 'inherit'] })
      const exited = new Promise((resolve) => host.once('exit', (code, signal) => resolve(signal ?? code)))
      let last: Array<{ name: string; pids: number[]; processed: number; inFlight: number }> = []
      createInterface({ input: host.stdout! }).on('line', (line) => {
        if (line.startsWith('plugins ')) last = JSON.parse(line.slice('plugins '.length))
      })
      const pids: number[] = []
      try {
        await until('the confined plugin processing', () => {
          const j = last.find((p) => p.name === 'journaled')
          const b = last.find((p) => p.name === 'busy')
          return !!j && j.processed > 100 && (!workerThreads || b?.inFlight === 1)
        }, 30_000)
        pids.push(...last.flatMap((p) => p.pids).filter((pid) => pid > 0))
        assert.equal(pids.length, workerThreads ? 2 : 1)
        host.kill('SIGKILL')
        assert.equal(await exited, 'SIGKILL')
        await until('every confined instance gone', () => !pids.some(alive), 5000)
      } finally {
        if (alive(host.pid!)) host.kill('SIGKILL')
        for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL')
      }
    })
  }
})
