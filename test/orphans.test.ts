import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readdirSync } from 'node:fs'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { PluginDir, worker } from './helpers/plugins.js'
import { alive, until } from './helpers/wait.js'

const HOST = fileURLToPath(new URL('./helpers/emitting-host.js', import.meta.url))

interface Seen {
  name: string
  pids: number[]
  inFlight: number
  processed: number
}

describe('orphans (issue 11 §3)', () => {
  let dir: PluginDir
  const pids = new Set<number>()
  beforeEach(async () => {
    dir = await PluginDir.create()
  })
  afterEach(async () => {
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL')
    pids.clear()
    await dir.remove()
  })

  it('every process instance exits within 2 s of a host SIGKILL, while a durable journal is written and a hook is busy', async (t) => {
    await dir.add('journaled', worker('journaled', { isolation: 'process', instances: 2, delivery: 'durable' }), `
      export default { hooks: { 'load:evt'() { for (const t = Date.now(); Date.now() - t < 1;); } } }`)
    // A hook that holds its instance's event loop far longer than the 2 s allowed.
    await dir.add('busy', worker('busy', { isolation: 'process', instances: 1, limits: { unresponsiveMs: 120_000, handlerTimeoutMs: 120_000 } }), `
      export default { hooks: { 'busy:go'() { for (const t = Date.now(); Date.now() - t < 60_000;); } } }`)
    const host = spawn(process.execPath, [HOST, dir.enabled, dir.stateDir], { stdio: ['ignore', 'pipe', 'inherit'] })
    pids.add(host.pid!)
    const exited = new Promise((resolve) => host.once('exit', (code, signal) => resolve(signal ?? code)))
    let last: Seen[] = []
    createInterface({ input: host.stdout }).on('line', (line) => {
      if (line.startsWith('plugins ')) last = JSON.parse(line.slice('plugins '.length)) as Seen[]
    })
    const of = (name: string) => last.find((p) => p.name === name)
    await until('the journal written and the busy hook running', () => {
      const j = of('journaled')
      const b = of('busy')
      return !!j && !!b && j.processed > 2000 && b.inFlight === 1 && j.inFlight > 0
    }, 30_000)
    const journal = path.join(dir.stateDir, 'journal', 'journaled')
    assert.ok(readdirSync(journal).length > 0, 'the journal exists')
    const instances = last.flatMap((p) => p.pids).filter((pid) => pid > 0)
    assert.equal(instances.length, 3)
    for (const pid of instances) pids.add(pid)
    assert.ok(instances.every(alive))

    host.kill('SIGKILL')
    assert.equal(await exited, 'SIGKILL')
    const killedAt = Date.now()
    await until('every instance gone', () => !instances.some(alive), 2000)
    const tookMs = Date.now() - killedAt
    assert.ok(tookMs <= 2000, `orphans lived ${tookMs} ms`)
    t.diagnostic(`every instance gone ${tookMs} ms after the host's SIGKILL`)
  })
})
