import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { culprit } from '../src/supervision/blame.js'
import { MemoryStore } from '../src/state/memory-store.js'
import type { PluginStatus } from '../src/supervisor/status-types.js'
import { ROOT, collect, rig, spawnCli } from './helpers/cli-run.js'
import { PluginDir, core, worker } from './helpers/plugins.js'
import { until } from './helpers/wait.js'

/** Children a test started: a failed test must not leave one running. */
const children: ChildProcess[] = []

/** Spawns the real `outrigger start` on a plugin folder, with its own socket folder and state. */
async function startCli(dir: PluginDir, app: string, config: object) {
  const { child, io, runtimeDir } = await spawnCli(dir.root, app, config)
  children.push(child)
  await until('the supervisor to run', () => /running: /.test(io.out()), 20_000)
  const status = async (): Promise<Record<string, PluginStatus>> => {
    const r = await rig(['status', '--json', '--app', app], { runtimeDir })
    assert.equal(r.code, 0, r.stderr + io.out())
    return Object.fromEntries(JSON.parse(r.stdout).plugins.map((p: PluginStatus) => [p.name, p]))
  }
  const emit = async (event: string, payload: object) => {
    const r = await rig(['emit', event, JSON.stringify(payload), '--app', app], { runtimeDir })
    assert.equal(r.code, 0, r.stderr + io.out())
  }
  return { child, io, status, emit }
}

/** Every id a sink instance wrote to its `done-<pid>` files. */
async function processedIds(dataDir: string): Promise<Set<number>> {
  const done = new Set<number>()
  for (const f of await readdir(dataDir).catch(() => [])) {
    if (!f.startsWith('done-')) continue
    for (const l of (await readFile(path.join(dataDir, f), 'utf8')).split('\n')) if (l) done.add(Number(l))
  }
  return done
}

/** A worker plugin that appends the id of every `job:*` event it processed, a little slowly. */
const SINK = `
  import { openSync, writeSync } from 'node:fs'
  let fd
  export default {
    init(ctx) { fd = openSync(ctx.dataDir + '/done-' + process.pid, 'a') },
    hooks: { async 'job:*'(p) { await new Promise((r) => setTimeout(r, 2)); writeSync(fd, p.id + '\\n') } },
  }`

/** A core plugin whose hook leaves a timer that throws: the error escapes later, from its code. */
const BAD = `
  export default {
    hooks: { 'job:run'(p) { setTimeout(() => { throw new Error('boom from bad ' + p.id) }, 1) } },
    pipes: { 'job:check'(p) { return p } },
    functions: { ping() { return 'pong' } },
  }`

const GOOD = `export default { hooks: { 'job:*'() {} } }`

describe('errors the host did not expect', () => {
  let dir: PluginDir
  beforeEach(async () => {
    dir = await PluginDir.create()
  })
  afterEach(async () => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
    await dir.remove()
  })

  it('isolates the core plugin whose timer threw; the others and a worker plugin keep processing', async () => {
    await dir.add('bad', core('bad'), BAD)
    await dir.add('good', core('good'), GOOD)
    await dir.add('sink', worker('sink', { isolation: 'process' }), SINK)
    const cli = await startCli(dir, `isolate-${process.pid}`, {})
    await cli.emit('job:run', { id: 1 })
    await until('bad to be isolated', async () => (await cli.status()).bad.state === 'failed', 10_000)
    const before = await cli.status()
    assert.equal(before.bad.events.failed, 1, 'the escaped error is counted')
    assert.match(before.bad.lastError?.message ?? '', /boom from bad 1/)

    // Its hooks are off the bus; the rest carries on, and the host is up.
    await cli.emit('job:run', { id: 2 })
    await until('good and sink to process the second event', async () => {
      const s = await cli.status()
      return s.good.events.processed === 2 && s.sink.events.processed === 2
    })
    const after = await cli.status()
    assert.equal(after.bad.events.received, 1, 'bad heard nothing after its isolation')
    assert.equal(after.bad.events.failed, 1)
    assert.equal(after.good.state, 'running')
    assert.equal(after.sink.state, 'running')
    assert.equal((await processedIds(path.join(dir.stateDir, 'data', 'sink'))).size, 2)
    assert.equal(cli.io.out().match(/"plugin":"bad","origin":"uncaughtException"/g)?.length, 1, 'logged once')
    assert.match(cli.io.out(), /failed: an uncaught exception escaped from its code: boom from bad 1/)

    cli.child.kill('SIGTERM')
    assert.equal(await cli.io.exited, 0, cli.io.out())
  })

  it('isolates the core plugin that left a promise rejected and unhandled', async () => {
    await dir.add('rejecter', core('rejecter'), `
      async function later(id) { await null; throw new Error('rejected later ' + id) }
      export default { hooks: { 'job:run'(p) { later(p.id) } } }`)
    await dir.add('good', core('good'), GOOD)
    const cli = await startCli(dir, `reject-${process.pid}`, {})
    await cli.emit('job:run', { id: 7 })
    await until('rejecter to be isolated', async () => (await cli.status()).rejecter.state === 'failed', 10_000)
    const s = await cli.status()
    assert.equal(s.rejecter.events.failed, 1)
    assert.match(s.rejecter.lastError?.message ?? '', /rejected later 7/)
    assert.match(cli.io.out(), /"plugin":"rejecter","origin":"unhandledRejection"/)
    assert.match(cli.io.out(), /failed: an unhandled rejection escaped from its code: rejected later 7/)
    await cli.emit('job:run', { id: 8 })
    await until('good to hear both', async () => (await cli.status()).good.events.processed === 2)
    cli.child.kill('SIGTERM')
    assert.equal(await cli.io.exited, 0, cli.io.out())
  })

  it('with hostErrors "exit", even a blamed error stops gracefully and exits 1, queued events processed', async () => {
    await dir.add('bad', core('bad'), BAD)
    await dir.add('sink', worker('sink', { isolation: 'process', delivery: 'at-least-once' }), SINK)
    await dir.add('feeder', core('feeder'), `
      export default { hooks: { 'feed:go'(p, ctx) { for (let id = 0; id < p.n; id++) ctx.emit('job:queued', { id }); ctx.emit('job:run', { id: p.n }) } } }`)
    const cli = await startCli(dir, `exit-${process.pid}`, { hostErrors: 'exit' })
    await cli.emit('feed:go', { n: 300 })
    assert.equal(await cli.io.exited, 1, cli.io.out())
    assert.match(cli.io.out(), /an uncaught exception from plugin "bad" \(hostErrors "exit"\), stopping/)
    // 301 events reached the sink's queue before the throw; the graceful stop processed them all.
    assert.equal((await processedIds(path.join(dir.stateDir, 'data', 'sink'))).size, 301)
  })

  it('an error no plugin can be blamed for: graceful stop, queued at-least-once events processed, then exit 1', async () => {
    await dir.add('sink', worker('sink', { isolation: 'process', delivery: 'at-least-once' }), SINK)
    await dir.add('good', core('good'), GOOD)
    const host = path.join(dir.root, 'host.mjs')
    await writeFile(host, `
      import { startSupervisor } from ${JSON.stringify(pathToFileURL(path.join(ROOT, 'dist', 'src', 'index.js')).href)}
      const sup = await startSupervisor({
        app: 'unblamed-${process.pid}', pluginsDir: ${JSON.stringify(dir.enabled)}, stateDir: ${JSON.stringify(dir.stateDir)},
        store: 'memory', control: false, http: false, handleProcessErrors: true, config: { logLevel: 'warn' },
      })
      for (let id = 0; id < 300; id++) sup.emit('job:run', { id })
      // The host's own bug, outside any plugin call.
      setTimeout(() => { throw new Error('host bug outside any plugin') }, 0)
    `)
    const child = spawn(process.execPath, [host], { stdio: ['ignore', 'pipe', 'pipe'] })
    children.push(child)
    const io = collect(child)
    assert.equal(await io.exited, 1, io.out())
    assert.match(io.out(), /an uncaught exception that no plugin can be blamed for \(no plugin to isolate\), stopping/)
    assert.match(io.out(), /host bug outside any plugin/)
    assert.equal((await processedIds(path.join(dir.stateDir, 'data', 'sink'))).size, 300, 'every queued event was processed before the exit')
  })

  it('library mode installs no process-wide handler unless asked, and removes its own at stop', async () => {
    await dir.add('good', core('good'), GOOD)
    const count = () => [process.listenerCount('uncaughtException'), process.listenerCount('unhandledRejection')]
    const before = count()
    const quiet = await dir.start()
    assert.deepEqual(count(), before, 'a library leaves the process alone')
    await quiet.stop()

    const asked = await dir.start({ handleProcessErrors: true })
    assert.deepEqual(count(), [before[0] + 1, before[1] + 1])
    await asked.stop()
    assert.deepEqual(count(), before)
  })

  it('blames plugin code only: not the supervisor work (a host store) its ctx calls reach, and nobody when no one handles it', async () => {
    const seen: Array<[string, string | undefined]> = []
    const g = globalThis as { __seen?: (what: string) => void }
    g.__seen = (what) => seen.push([what, culprit()?.plugin])
    // The host's own store: host code, reached from plugin code through ctx.state.
    class HostStore extends MemoryStore {
      override async put(ns: string, key: string, value: unknown): Promise<void> {
        g.__seen!('store')
        setTimeout(() => g.__seen!('store timer'), 0)
        return super.put(ns, key, value)
      }
    }
    await dir.add('writer', core('writer'), `
      export default { hooks: { async 'w:go'(p, ctx) {
        globalThis.__seen('hook')
        setTimeout(() => globalThis.__seen('hook timer'), 0)
        ctx.emit('w:next', {})
        await ctx.state.putState('k', 1)
        globalThis.__seen('after await')
      } } }`)
    await dir.add('next', core('next'), `export default { hooks: { 'w:next'() { globalThis.__seen('next hook') } } }`)
    const sup = await dir.start({ handleProcessErrors: true, store: new HostStore() })
    sup.emit('w:go', {})
    await until('every step to report', () => seen.length === 6)
    await sup.stop()
    assert.deepEqual(Object.fromEntries(seen), {
      hook: 'writer',
      'hook timer': 'writer',
      'after await': 'writer',
      'next hook': 'next',
      store: undefined,
      'store timer': undefined,
    })

    seen.length = 0
    const plain = await dir.start({ store: new HostStore() })
    plain.emit('w:go', {})
    await until('every step to report', () => seen.length === 6)
    assert.ok(seen.every(([, who]) => who === undefined), 'without handlers, nothing is named')
  })
})
