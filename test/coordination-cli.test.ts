/**
 * The coordination log from the outside: `outrigger log tail|replica` over the real control
 * socket, `GET /_log` behind the auth slot, and the log's figures in `outrigger status`.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { LogEntry, Replica } from '../src/coordination/types.js'
import type { StatusReport } from '../src/supervisor/status-types.js'
import type { Supervisor } from '../src/supervisor/types.js'
import { BIN, collect, rig } from './helpers/cli-run.js'
import { PluginDir, core, worker } from './helpers/plugins.js'
import { until } from './helpers/wait.js'

const NOTES = `export default (ctx) => ({
  coordination: { 'notes/add': { apply: (a, r) => [...(r.meta?.notes ?? []), a.text] } },
  functions: { add: (text) => ctx.coordination.append('notes/add', { text }) },
})`

describe('coordination log: CLI and HTTP', () => {
  let dir: PluginDir
  let sup: Supervisor & { httpUrl?: string }
  let runtimeDir: string
  const app = `coord-cli-${process.pid}`
  const run = (...args: string[]) => rig(['--app', app, ...args], { runtimeDir })

  before(async () => {
    dir = await PluginDir.create()
    runtimeDir = path.join(dir.root, 'run')
    await dir.add('notes', worker('notes', { instances: 2 }), NOTES)
    await dir.add('gate', core('gate'), `export default { provides: { auth: (req) => { if (req.headers.authorization !== 'Bearer letmein') throw Object.assign(new Error('who are you?'), { status: 401 }); return { who: 'op' } } } }`)
    sup = await dir.start({ app, control: { runtimeDir }, http: { port: 0 } })
    await sup.call('notes.add', 'first')
    await sup.call('notes.add', 'second')
    await until('both instances applied the log', () => {
      const s = sup.status()
      return s.log!.committed === s.log!.head && s.plugins.find((p) => p.name === 'notes')!.instances.every((i) => i.appliedSeq === s.log!.head)
    })
  })
  after(() => dir.remove())

  it('log tail --json prints the last entries, one JSON entry a line; --from and --type select', async () => {
    const r = await run('log', 'tail', '--json')
    assert.equal(r.code, 0, r.stderr)
    const entries = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as LogEntry)
    assert.deepEqual(entries.map((e) => e.seq), entries.map((_, i) => i + 1))
    assert.deepEqual(entries.filter((e) => e.type === 'notes/add').map((e) => (e.args as { text: string }).text), ['first', 'second'])

    const joined = await run('log', 'tail', '--from', '1', '--type', 'instance/*', '--json')
    const types = joined.stdout.trim().split('\n').map((l) => (JSON.parse(l) as LogEntry).type)
    assert.deepEqual(types, ['instance/joined', 'instance/joined'])

    const text = await run('log', 'tail', '--from', '2')
    assert.equal(text.code, 0, text.stderr)
    assert.match(text.stdout, /^\s+2\s+\d{4}-\d\d-\d\dT/m)
    assert.doesNotMatch(text.stdout, /^\s+1\s/m)
    assert.match(text.stdout, /notes\/add\s+\{"text":"second"\}/)
  })

  it('log tail -f follows new entries as they are appended', async () => {
    const child = spawn(process.execPath, [BIN, '--app', app, 'log', 'tail', '-f', '--type', 'notes/*'], { env: { ...process.env, OUTRIGGER_RUNTIME_DIR: runtimeDir }, stdio: ['ignore', 'pipe', 'pipe'] })
    const io = collect(child)
    try {
      await until('the existing entries are printed', () => io.out().includes('"second"'))
      await sup.call('notes.add', 'third')
      await until('the new entry is printed', () => io.out().includes('"third"'))
      assert.doesNotMatch(io.out(), /instance\/joined/)
    } finally {
      child.kill('SIGINT')
      await io.exited
    }
  })

  it("log replica prints the supervisor's replica; --plugin what that plugin's instances hold", async () => {
    const all = await run('log', 'replica', '--json')
    assert.equal(all.code, 0, all.stderr)
    const replica = JSON.parse(all.stdout) as Replica
    assert.deepEqual(Object.keys(replica.plugins!).sort(), ['gate', 'notes'])
    assert.equal(Object.keys(replica.plugins!.notes.instances).length, 2)
    assert.equal(replica.meta?.notes, undefined, "a worker plugin's namespace lives in its instances")

    const own = await run('log', 'replica', '--plugin', 'notes')
    assert.equal(own.code, 0, own.stderr)
    assert.deepEqual((JSON.parse(own.stdout) as Replica).meta, { notes: ['first', 'second', 'third'] })

    const none = await run('log', 'replica', '--plugin', 'nobody')
    assert.equal(none.code, 1)
    assert.match(none.stderr, /RIG_ERR_UNKNOWN_PLUGIN/)
  })

  it('status shows the log head and the seq each instance applied', async () => {
    const json = JSON.parse((await run('status', '--json')).stdout) as StatusReport
    assert.equal(json.log!.head, sup.coordination.log.head)
    for (const i of json.plugins.find((p) => p.name === 'notes')!.instances) assert.equal(i.appliedSeq, json.log!.head)
    const text = (await run('status')).stdout
    assert.match(text, new RegExp(`log head ${json.log!.head}`))
    assert.match(text, new RegExp(`#0 thread \\d+ log ${json.log!.head}`))
  })

  it('a bad --from is a usage error', async () => {
    const r = await run('log', 'tail', '--from', 'soon')
    assert.equal(r.code, 2)
    assert.match(r.stderr, /--from must be a seq/)
  })

  it('GET /_log?from=SEQ answers a page of entries behind the auth slot', async () => {
    const url = `${sup.httpUrl}/_log?from=2&type=notes/*`
    const refused = await fetch(url)
    assert.equal(refused.status, 401)
    const res = await fetch(url, { headers: { authorization: 'Bearer letmein' } })
    assert.equal(res.status, 200)
    const page = (await res.json()) as { head: number; entries: LogEntry[]; next: number }
    assert.deepEqual(page.entries.map((e) => (e.args as { text: string }).text), ['first', 'second', 'third'])
    assert.equal(page.head, sup.coordination.log.head)
    assert.equal(page.next, page.head + 1)
    const bad = await fetch(`${sup.httpUrl}/_log?from=-3`, { headers: { authorization: 'Bearer letmein' } })
    assert.equal(bad.status, 400)
    assert.match(((await bad.json()) as { error: { message: string } }).error.message, /from must be a whole number/)
  })
})
