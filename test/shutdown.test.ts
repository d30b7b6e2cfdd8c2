import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { LmdbStore } from '../src/state/lmdb-store.js'
import type { DeadLetter } from '../src/supervisor/types.js'
import { rig, spawnCli } from './helpers/cli-run.js'
import { PluginDir, core, worker } from './helpers/plugins.js'
import { alive, until } from './helpers/wait.js'


/** The same, once it runs. */
async function startCli(dir: PluginDir, app: string, config: object) {
  const cli = await spawnCli(dir.root, app, config)
  await until('the supervisor to run', () => /running: /.test(cli.io.out()), 20_000)
  return cli
}

async function workerPids(app: string, runtimeDir: string, plugin: string): Promise<number[]> {
  const r = await rig(['status', '--json', '--app', app], { runtimeDir })
  assert.equal(r.code, 0, r.stderr)
  return JSON.parse(r.stdout).plugins.find((p: { name: string }) => p.name === plugin).instances.map((i: { pid: number }) => i.pid)
}

describe('shutdown of the standalone supervisor', () => {
  let dir: PluginDir
  beforeEach(async () => {
    dir = await PluginDir.create()
  })
  afterEach(() => dir.remove())

  it('on SIGTERM under load: drains what it can and dead-letters the rest, dropping nothing', async () => {
    // The emitter counts what it handed to emit; the sink writes what it processed.
    await dir.add('emitter', core('emitter'), `
      import { writeFileSync } from 'node:fs'
      let timer
      export default {
        whenReady(ctx) {
          let id = 0
          timer = setInterval(() => {
            try { for (let i = 0; i < 50; i++) { ctx.emit('load:evt', { id }); id++ } }
            catch (e) { clearInterval(timer); return }
            writeFileSync(ctx.dataDir + '/emitted', String(id))
          }, 2)
        },
        close() { clearInterval(timer) },
      }`)
    await dir.add('sink', worker('sink', { isolation: 'process', instances: 2, delivery: 'at-least-once', queue: { max: 1_000_000 } }), `
      import { openSync, writeSync } from 'node:fs'
      let fd
      export default {
        init(ctx) { fd = openSync(ctx.dataDir + '/done-' + process.pid, 'a') },
        hooks: { async 'load:evt'(p) { await new Promise((r) => setTimeout(r, 1)); writeSync(fd, p.id + '\\n') } },
      }`)
    const app = `sigterm-${process.pid}`
    const { child, io, runtimeDir } = await startCli(dir, app, { timeouts: { drainMs: 300 } })
    const pids = await workerPids(app, runtimeDir, 'sink')
    const sinkData = path.join(dir.stateDir, 'data', 'sink')
    await until('load flowing', async () => (await readdir(sinkData)).length === 2 && (await readFile(path.join(sinkData, `done-${pids[0]}`), 'utf8')).length > 2000, 20_000)
    child.kill('SIGTERM')
    assert.equal(await io.exited, 0, io.out())
    for (const pid of pids) assert.equal(alive(pid), false, `worker ${pid} is gone`)

    const emitted = Number(await readFile(path.join(dir.stateDir, 'data', 'emitter', 'emitted'), 'utf8'))
    const done = new Set<number>()
    for (const f of await readdir(sinkData)) for (const l of (await readFile(path.join(sinkData, f), 'utf8')).split('\n')) if (l) done.add(Number(l))
    const store = new LmdbStore(path.join(dir.stateDir, 'store'))
    const letters = (await store.list('outrigger:dead-letters:sink')).map(([, v]) => v as DeadLetter)
    await store.close()
    const dead = new Set(letters.map((l) => (l.payload as { id: number }).id))
    assert.ok(letters.length > 0, 'the 300 ms drain could not finish: the rest became dead letters')
    assert.ok(letters.every((l) => l.error?.code === 'RIG_ERR_CLOSED'))
    const missing = []
    for (let id = 0; id < emitted; id++) if (!done.has(id) && !dead.has(id)) missing.push(id)
    assert.deepEqual(missing, [], `${emitted} emitted, ${done.size} processed, ${dead.size} dead letters`)
  })

  it('on SIGINT while plugins start: finishes starting, then stops gracefully', async () => {
    // init announces itself, then waits for the test's go-ahead: the signal lands mid-start.
    await dir.add('slow', core('slow'), `
      import { existsSync, writeFileSync } from 'node:fs'
      export default {
        async init(ctx) {
          writeFileSync(ctx.dataDir + '/initing', '')
          while (!existsSync(ctx.dataDir + '/go')) await new Promise((r) => setTimeout(r, 10))
        },
        close(ctx) { writeFileSync(ctx.dataDir + '/closed', '') },
      }`)
    const { child, io } = await spawnCli(dir.root, `early-${process.pid}`, {})
    const data = path.join(dir.root, 'state', 'data', 'slow')
    await until('init to begin', () => existsSync(path.join(data, 'initing')), 20_000)
    child.kill('SIGINT')
    await until('the signal to be held', () => /SIGINT while starting/.test(io.out()), 5000)
    await writeFile(path.join(data, 'go'), '')
    assert.equal(await io.exited, 0, io.out())
    assert.match(io.out(), /running: 1 plugin/)
    assert.match(io.out(), /SIGINT during start-up, stopping/)
    assert.ok(existsSync(path.join(data, 'closed')), 'close ran')
  })

  it('leaves no worker process behind when the supervisor is SIGKILLed', async () => {
    await dir.add('kids', worker('kids', { isolation: 'process', instances: 2 }), `export default { hooks: { 'a:b'() {} } }`)
    const app = `sigkill-${process.pid}`
    const { child, io, runtimeDir } = await startCli(dir, app, {})
    const pids = await workerPids(app, runtimeDir, 'kids')
    assert.equal(pids.length, 2)
    assert.ok(pids.every(alive))
    child.kill('SIGKILL')
    await io.exited
    await until('every child gone', () => !pids.some(alive), 5000)
  })
})
