/**
 * The `outrigger` binary, run as a child process, against real supervisors over the real socket:
 * every command in both output forms, exit codes, and the new → validate → start round trip.
 */
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { existsSync, readlinkSync } from 'node:fs'
import { cp, mkdir, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { socketPath } from '../src/control/socket-path.js'
import type { Validation } from '../src/cli/validate.js'
import type { PluginStatus, StatusReport } from '../src/supervisor/status-types.js'
import type { Supervisor } from '../src/supervisor/types.js'
import { BIN, CLI_FIXTURES, collect, rig, startHost, workspace } from './helpers/cli-run.js'
import { until } from './helpers/wait.js'

type Workspace = Awaited<ReturnType<typeof workspace>>

const STATUS_KEYS = ['app', 'eventLoop', 'health', 'log', 'logs', 'memory', 'pid', 'plugins', 'state', 'uptimeMs', 'version']
const PLUGIN_KEYS = ['controllers', 'delivery', 'events', 'functions', 'handlerMs', 'hooks', 'instances', 'isolation', 'lastError', 'name', 'pipes', 'queue', 'restarts', 'shadowed', 'shadowedBroken', 'state', 'type', 'version']

function pluginOf(report: StatusReport, name: string): PluginStatus {
  const p = report.plugins.find((x) => x.name === name)
  assert.ok(p, `plugin ${name} in the report`)
  return p
}

describe('read commands against a running supervisor', () => {
  let ws: Workspace
  let sup: Supervisor
  let run: (...args: string[]) => ReturnType<typeof rig>

  before(async () => {
    ws = await workspace(['greeter', 'crasher', 'flaky'])
    sup = await startHost('rigs', ws)
    run = (...args) => rig(['--app', 'rigs', ...args], { runtimeDir: ws.runtimeDir })
  })
  after(async () => {
    await sup.stop()
    await ws.cleanup()
  })

  it('status --json prints exactly the status report', async () => {
    const r = await run('status', '--json')
    assert.equal(r.code, 0, r.stderr)
    const report = JSON.parse(r.stdout) as StatusReport
    assert.deepEqual(Object.keys(report).sort(), STATUS_KEYS)
    assert.equal(report.app, 'rigs')
    assert.equal(report.pid, process.pid)
    assert.deepEqual(report.plugins.map((p) => p.name).sort(), ['crasher', 'flaky', 'greeter'])
    for (const p of report.plugins) assert.deepEqual(Object.keys(p).sort(), PLUGIN_KEYS)
  })

  it('status prints an aligned table per plugin and per instance, without colour when piped', async () => {
    const r = await run('status')
    assert.equal(r.code, 0, r.stderr)
    assert.doesNotMatch(r.stdout, /\x1b\[/)
    const lines = r.stdout.split('\n')
    const head = lines.find((l) => l.startsWith('PLUGIN'))
    assert.ok(head, r.stdout)
    for (const h of ['STATE', 'RESTARTS', 'QUEUE', 'RECV', 'PROC', 'FAIL', 'DROP', 'LOST', 'RECOV', 'P99', 'MEM', 'LOOP P99']) assert.ok(head.includes(h), h)
    const greeter = lines.find((l) => l.startsWith('greeter@1.0.0'))
    const crasher = lines.find((l) => l.startsWith('crasher@1.0.0'))
    assert.ok(greeter && crasher)
    assert.match(greeter, /core\s+running/)
    assert.match(crasher, /thread x1\s+running/)
    // Right-aligned numbers end in the same column as their header.
    assert.equal(crasher.indexOf('/10000') + '/10000'.length, head.indexOf('QUEUE') + 'QUEUE'.length)
    assert.ok(lines.some((l) => /^\s+#0 thread \d+/.test(l)), 'an instance row')
  })

  it('health exits 0 when healthy, in both forms', async () => {
    const json = await run('health', '--json')
    assert.equal(json.code, 0)
    const h = JSON.parse(json.stdout) as { health: string; plugins: { name: string; state: string }[] }
    assert.deepEqual(Object.keys(h).sort(), ['health', 'plugins'])
    assert.equal(h.health, 'healthy')
    assert.deepEqual(h.plugins.find((p) => p.name === 'greeter'), { name: 'greeter', state: 'running' })
    const human = await run('health')
    assert.equal(human.code, 0)
    assert.match(human.stdout, /^rigs: healthy/)
    assert.match(human.stdout, /greeter\s+running/)
  })

  it('plugins list and describe, in both forms', async () => {
    const list = await run('plugins', 'list', '--json')
    assert.equal(list.code, 0)
    assert.equal((JSON.parse(list.stdout) as PluginStatus[]).length, 3)
    const table = await run('plugins', 'list')
    assert.match(table.stdout, /^NAME\s+VERSION\s+TYPE/)
    assert.match(table.stdout, /flaky\s+1\.0\.0\s+thread x1\s+at-least-once\s+running/)

    const d = await run('plugins', 'describe', 'greeter', '--json')
    const p = JSON.parse(d.stdout) as PluginStatus
    assert.equal(p.name, 'greeter')
    assert.deepEqual(p.hooks, ['greet:*'])
    assert.deepEqual(p.functions, ['count'])
    const human = await run('plugins', 'describe', 'greeter')
    assert.match(human.stdout, /hooks\s+greet:\*/)
    assert.match(human.stdout, /functions\s+count/)

    const missing = await run('plugins', 'describe', 'nope')
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /RIG_ERR_UNKNOWN_PLUGIN/)
  })

  it('emit delivers a JSON payload; bad JSON is a usage error', async () => {
    const r = await run('emit', 'greet:hello', '{"times":3}')
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /emitted greet:hello/)
    const j = await run('emit', 'greet:again', '--json')
    assert.deepEqual(JSON.parse(j.stdout), { event: 'greet:again', emitted: true })
    await until('both greetings to be counted', async () => (await sup.call('greeter.count')) === 4)
    const bad = await run('emit', 'greet:x', '{nope')
    assert.equal(bad.code, 2)
    assert.match(bad.stderr, /not JSON/)
    assert.match(bad.stderr, /Usage: outrigger emit \[options\] <event> \[json\]/)
  })

  it('usage errors exit 2 with the usage line', async () => {
    const missing = await run('restart')
    assert.equal(missing.code, 2)
    assert.match(missing.stderr, /missing required argument 'plugin'/)
    assert.match(missing.stderr, /Usage: outrigger restart \[options\] <plugin>/)
    const unknown = await run('frobnicate')
    assert.equal(unknown.code, 2)
    assert.match(unknown.stderr, /unknown command 'frobnicate'/)
    const badOpt = await run('status', '--bogus')
    assert.equal(badOpt.code, 2)
    assert.match(badOpt.stderr, /Usage: outrigger status/)
  })

  it('dead-letters list and replay, in both forms', async () => {
    sup.emit('flaky:go', { n: 1 })
    await until('a dead letter', async () => (await sup.listDeadLetters('flaky')).length === 1)
    const list = await run('dead-letters', 'list', 'flaky', '--json')
    assert.equal(list.code, 0, list.stderr)
    const letters = JSON.parse(list.stdout) as { event: string; payload: unknown; attempts: number }[]
    assert.equal(letters.length, 1)
    assert.equal(letters[0].event, 'flaky:go')
    assert.deepEqual(letters[0].payload, { n: 1 })
    const table = await run('dead-letters', 'list', 'flaky')
    assert.match(table.stdout, /^ID\s+EVENT\s+ATTEMPTS/)
    assert.match(table.stdout, /flaky:go/)
    assert.match(table.stdout, /flaky always fails/)

    const replay = await run('dead-letters', 'replay', 'flaky', '--json')
    assert.equal(replay.code, 0, replay.stderr)
    assert.deepEqual(JSON.parse(replay.stdout), { plugin: 'flaky', replayed: 1, left: 0, halted: null })
    // The replayed event fails again and comes back as a dead letter.
    await until('the replayed event to fail again', async () => (await sup.listDeadLetters('flaky')).length === 1)
    const human = await run('dead-letters', 'replay', 'flaky')
    assert.match(human.stdout, /replayed 1 dead letter\(s\) of flaky/)
    const none = await run('dead-letters', 'list', 'greeter')
    assert.equal(none.code, 1)
    assert.match(none.stderr, /RIG_ERR_UNKNOWN_PLUGIN/)
  })

  it('a crash-looping worker is quarantined (health exits 1) and `restart` brings it back', async () => {
    sup.emit('crash:now', {})
    await until('the first restart', () => pluginOf(sup.status(), 'crasher').restarts >= 1 && pluginOf(sup.status(), 'crasher').state === 'running')
    sup.emit('crash:now', {})
    await until('quarantine', () => pluginOf(sup.status(), 'crasher').state === 'quarantined')
    const health = await run('health', '--json')
    assert.equal(health.code, 1)
    assert.equal((JSON.parse(health.stdout) as { health: string }).health, 'unhealthy')
    const status = await run('status')
    assert.match(status.stdout, /crasher@1\.0\.0\s+thread x\d\s+quarantined/)
    assert.match(status.stdout, /crasher: RIG_ERR_CRASH_LOOP/)

    const r = await run('restart', 'crasher')
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /restarted crasher/)
    await until('crasher running again', () => pluginOf(sup.status(), 'crasher').state === 'running')
    const again = await run('health')
    assert.equal(again.code, 0, again.stdout)
    const json = await run('restart', 'crasher', '--json')
    assert.deepEqual(JSON.parse(json.stdout), { plugin: 'crasher', restarted: true })
  })
})

describe('health exit codes 1 and 3', () => {
  let ws: Workspace
  let sup: Supervisor
  before(async () => {
    ws = await workspace(['greeter', 'broken'])
    sup = await startHost('sick', ws)
  })
  after(async () => {
    await sup.stop()
    await ws.cleanup()
  })

  it('exits 1 when a plugin failed, and the report carries its error', async () => {
    const r = await rig(['--app', 'sick', 'health'], { runtimeDir: ws.runtimeDir })
    assert.equal(r.code, 1)
    assert.match(r.stdout, /^sick: unhealthy/)
    assert.match(r.stdout, /broken\s+failed/)
    const s = await rig(['--app', 'sick', 'status', '--json'], { runtimeDir: ws.runtimeDir })
    assert.match(pluginOf(JSON.parse(s.stdout) as StatusReport, 'broken').lastError?.message ?? '', /broken on purpose/)
  })

  it('exits 3 when nothing answers, naming the socket it tried', async () => {
    for (const cmd of [['health'], ['status', '--json'], ['plugins', 'list']]) {
      const r = await rig(['--app', 'ghost', ...cmd], { runtimeDir: ws.runtimeDir })
      assert.equal(r.code, 3, cmd.join(' '))
      assert.match(r.stderr, /RIG_ERR_CONTROL_UNREACHABLE/)
      assert.ok(r.stderr.includes(socketPath('ghost', ws.runtimeDir)), r.stderr)
    }
  })

  it('plugins list without a supervisor shows the plugins folder from disk, still exiting 3', async () => {
    await mkdir(path.join(ws.enabled, 'mangled'))
    await writeFile(path.join(ws.enabled, 'mangled', 'manifest.json'), '{ "name": "mangled", ')
    try {
      const r = await rig(['--app', 'ghost', 'plugins', 'list', '--plugins', ws.enabled], { runtimeDir: ws.runtimeDir })
      assert.equal(r.code, 3)
      assert.match(r.stderr, /RIG_ERR_CONTROL_UNREACHABLE/)
      assert.match(r.stdout, /not running; .* holds:/)
      assert.match(r.stdout, /^greeter\s+\S+\s+core\s+-\s+not running/m)
      assert.match(r.stdout, /^broken\s+0\.0\.1\s+core\s+-\s+not running/m)
      assert.match(r.stdout, /^mangled\s+-\s+-\s+-\s+invalid/m)
      assert.match(r.stdout, /^mangled: .*manifest\.json/m)
    } finally {
      await rm(path.join(ws.enabled, 'mangled'), { recursive: true })
    }
  })
})

describe('plugin folders: validate, enable, disable, new → start', () => {
  let ws: Workspace
  before(async () => {
    ws = await workspace(['greeter'])
  })
  after(() => ws.cleanup())

  it('validate accepts a good plugin and prints every problem of a bad one', async () => {
    const ok = await rig(['validate', path.join(CLI_FIXTURES, 'greeter')], { runtimeDir: ws.runtimeDir })
    assert.equal(ok.code, 0, ok.stdout)
    assert.match(ok.stdout, /greeter: ok/)

    const bad = path.join(ws.root, 'bad')
    await mkdir(bad)
    await writeFile(path.join(bad, 'manifest.json'), JSON.stringify({ name: 'other', version: '1.0.0', type: 'core', main: 'missing.js' }))
    const r = await rig(['validate', bad], { runtimeDir: ws.runtimeDir })
    assert.equal(r.code, 1)
    assert.match(r.stdout, /name: must equal the folder name/)
    const worse = path.join(ws.root, 'worse')
    await mkdir(worse)
    await writeFile(path.join(worse, 'manifest.json'), JSON.stringify({ name: 'worse', version: 'one', type: 'plugin' }))
    const j = await rig(['validate', worse, '--json'], { runtimeDir: ws.runtimeDir })
    assert.equal(j.code, 1)
    const [res] = JSON.parse(j.stdout) as { ok: boolean; problems: string[] }[]
    assert.equal(res.ok, false)
    assert.ok(res.problems.length >= 2, 'every problem, not just the first')

    const noEntry = path.join(ws.root, 'noentry')
    await mkdir(noEntry)
    await writeFile(path.join(noEntry, 'manifest.json'), JSON.stringify({ name: 'noentry', version: '1.0.0', type: 'core' }))
    const e = await rig(['validate', noEntry], { runtimeDir: ws.runtimeDir })
    assert.equal(e.code, 1)
    assert.match(e.stdout, /entry file index\.js does not exist/)

    // The same shape check as the supervisor and the worker runtime: an empty pipes object is
    // no pipe, and a hook that is not a function is refused.
    const shapes = path.join(ws.root, 'shapes')
    for (const [name, code] of [['blank', `export default { pipes: {}, hooks: { 'a:b'() {} } }`], ['numbers', `export default { hooks: { x: 5 } }`], ['factory', `export default (ctx) => ({ hooks: { 'a:b'() {} } })`]]) {
      await mkdir(path.join(shapes, name), { recursive: true })
      await writeFile(path.join(shapes, name, 'manifest.json'), JSON.stringify({ name, version: '1.0.0', type: 'worker' }))
      await writeFile(path.join(shapes, name, 'index.js'), code)
    }
    await writeFile(path.join(shapes, 'package.json'), '{"type":"module"}')
    const v = await rig(['validate', shapes, '--json'], { runtimeDir: ws.runtimeDir })
    const byName = Object.fromEntries((JSON.parse(v.stdout) as Validation[]).map((r) => [path.basename(r.dir), r]))
    assert.deepEqual(byName.blank.problems, [])
    assert.deepEqual(byName.numbers.problems, ['main: index.js: hooks["x"] must be a function (found number)'])
    assert.deepEqual(byName.factory.problems, [], 'a factory entry is a plugin')
  })

  it("validate survives an entry whose top-level code loops, exits or prints, and says which", async () => {
    const entries: Record<string, string> = {
      looping: 'while (true) {}\nexport default {}\n',
      exiting: "process.stderr.write('no config found\\n'); process.exit(7)\nexport default {}\n",
      chatty: "console.log('hello from the top level'); setInterval(() => {}, 1000)\nexport default { hooks: {} }\n",
    }
    const root = path.join(ws.root, 'odd')
    for (const [name, code] of Object.entries(entries)) {
      await mkdir(path.join(root, name), { recursive: true })
      await writeFile(path.join(root, name, 'manifest.json'), JSON.stringify({ name, version: '1.0.0', type: 'core' }))
      await writeFile(path.join(root, name, 'index.js'), code)
    }
    await writeFile(path.join(root, 'package.json'), '{"type":"module"}')
    const r = await rig(['validate', root, '--json', '--timeout', '2000'], { runtimeDir: ws.runtimeDir })
    assert.equal(r.code, 1, r.stderr)
    const byName = Object.fromEntries((JSON.parse(r.stdout) as { dir: string; ok: boolean; problems: string[] }[]).map((v) => [path.basename(v.dir), v]))
    assert.match(byName.looping.problems.join(), /did not finish importing within 2000 ms/)
    assert.match(byName.exiting.problems.join(), /ended the process while being imported \(exit code 7\): no config found/)
    assert.deepEqual(byName.chatty.problems, [], 'its console output stays off ours, and its timer does not hold validate')
    assert.equal(byName.chatty.ok, true)
  })

  it('enable links enabled/<name> → ../available/<name>; disable removes it', async () => {
    await cp(path.join(CLI_FIXTURES, 'broken'), path.join(ws.root, 'plugins', 'available', 'broken'), { recursive: true })
    const opts = { runtimeDir: ws.runtimeDir, cwd: ws.root }
    const on = await rig(['plugins', 'enable', 'broken'], opts)
    assert.equal(on.code, 0, on.stderr)
    assert.match(on.stdout, /restart the supervisor/)
    assert.equal(readlinkSync(path.join(ws.enabled, 'broken')), path.join('..', 'available', 'broken'))
    assert.match((await rig(['plugins', 'enable', 'broken'], opts)).stdout, /already enabled/)
    const off = await rig(['plugins', 'disable', 'broken', '--plugins', ws.enabled], { runtimeDir: ws.runtimeDir })
    assert.equal(off.code, 0, off.stderr)
    assert.equal(existsSync(path.join(ws.enabled, 'broken')), false)
    assert.equal((await rig(['plugins', 'disable', 'broken'], opts)).code, 1)
    const missing = await rig(['plugins', 'enable', 'nothing'], opts)
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /not a plugin folder/)
  })

  it('new → validate → start loads the scaffolded core and worker plugins', async () => {
    const available = path.join(ws.root, 'plugins', 'available')
    const opts = { runtimeDir: ws.runtimeDir, cwd: ws.root }
    const made = await rig(['new', 'hello', '--dir', available], opts)
    assert.equal(made.code, 0, made.stderr)
    assert.equal((await rig(['new', 'hw', '--type', 'worker', '--isolation', 'process', '--dir', available], opts)).code, 0)
    assert.equal((await rig(['new', 'Bad Name'], opts)).code, 2)
    assert.equal((await rig(['new', 'x', '--type', 'sidecar'], opts)).code, 2)
    for (const name of ['hello', 'hw']) {
      const v = await rig(['validate', path.join(available, name)], opts)
      assert.equal(v.code, 0, v.stdout)
      assert.equal((await rig(['plugins', 'enable', name], opts)).code, 0)
    }

    // `start` in the foreground, as pm2 runs it; SIGTERM stops it gracefully.
    const child = spawn(process.execPath, [BIN, '--app', 'trip', 'start', '--plugins', ws.enabled, '--port', '0'], {
      cwd: ws.root,
      env: { ...process.env, OUTRIGGER_RUNTIME_DIR: ws.runtimeDir },
    })
    const { out, exited } = collect(child)
    try {
      await until('the supervisor to start', () => /"trip" running/.test(out()), 30_000)
      const ownTest = await runNode(['--test'], path.join(available, 'hello'))
      assert.equal(ownTest.code, 0, ownTest.stdout)
      const s = await rig(['--app', 'trip', 'status', '--json'], opts)
      const report = JSON.parse(s.stdout) as StatusReport
      assert.equal(pluginOf(report, 'hello').state, 'running')
      assert.deepEqual(pluginOf(report, 'hello').hooks, ['hello:ping'])
      const hw = pluginOf(report, 'hw')
      assert.equal(hw.isolation, 'process')
      assert.equal(hw.state, 'running')
      assert.deepEqual(hw.hooks, ['hw:ping'])
      assert.equal((await rig(['--app', 'trip', 'emit', 'hw:ping', '{}'], opts)).code, 0)
      await until('hw to process the ping', async () => {
        const r = JSON.parse((await rig(['--app', 'trip', 'plugins', 'describe', 'hw', '--json'], opts)).stdout) as PluginStatus
        return r.events.processed === 1
      })
    } finally {
      child.kill('SIGTERM')
    }
    assert.equal(await exited, 0, out())
    assert.equal(existsSync(socketPath('trip', ws.runtimeDir)), false, 'the socket is removed at stop')
  })
})

/** Runs node with arguments in a folder (the scaffolded plugin's own tests). */
function runNode(args: string[], cwd: string): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    // Without the parent's test-runner context, so the child reports on its own.
    const env = { ...process.env }
    delete env.NODE_TEST_CONTEXT
    execFile(process.execPath, args, { cwd, env }, (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout: stdout + stderr }))
  })
}
