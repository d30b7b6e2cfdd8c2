/**
 * What a new user meets in the first hour, through the real binary against real supervisors:
 * `top` within the terminal's width (in a tmux pane) and quiet under `| head`, a status table
 * whose rows add up, `outrigger call`, and `PORT` setting the HTTP port of `outrigger start`.
 */
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { after, before, describe, it } from 'node:test'
import type { Supervisor } from '../src/supervisor/types.js'
import { BIN, collect, rig, startHost, until, workspace } from './helpers/cli-run.js'

type Workspace = Awaited<ReturnType<typeof workspace>>

/** A tmux server of the test's own, so the screen `top` draws can be read back. */
function tmux(...args: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile('tmux', ['-L', `rig-first-${process.pid}`, ...args], (err, stdout) => resolve({ code: err ? 1 : 0, stdout }))
  })
}

/** A port nobody listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
    srv.on('error', reject)
  })
}

describe('the CLI against a running supervisor', () => {
  let ws: Workspace
  let sup: Supervisor
  let run: (...args: string[]) => ReturnType<typeof rig>
  const greeter = () => sup.status().plugins.find((p) => p.name === 'greeter')!
  const flaky = () => sup.status().plugins.find((p) => p.name === 'flaky')!

  before(async () => {
    ws = await workspace(['greeter', 'flaky'])
    sup = await startHost('firsthour', ws)
    run = (...args) => rig(['--app', 'firsthour', ...args], { runtimeDir: ws.runtimeDir })
    // A dead letter, so the DEAD column has something to show.
    sup.emit('flaky:go', {})
    await until('the flaky event to be dead-lettered', () => flaky().events.deadLettered === 1)
  })
  after(async () => {
    await tmux('kill-server')
    await sup.stop()
    await ws.cleanup()
  })

  for (const width of [80, 60, 40]) {
    it(`top fits a ${width}-column terminal`, async () => {
      const session = `w${width}`
      const cmd = `OUTRIGGER_RUNTIME_DIR='${ws.runtimeDir}' '${process.execPath}' '${BIN}' --app firsthour top --interval 200`
      assert.equal((await tmux('new-session', '-d', '-s', session, '-x', String(width), '-y', '30', 'sh', '-c', cmd)).code, 0, 'tmux starts')
      // Joined lines (-J) show what wrapped: a line longer than the pane comes back whole.
      const screen = async (): Promise<string[]> => (await tmux('capture-pane', '-p', '-J', '-t', session)).stdout.split('\n')
      await until('top to draw the table', async () => (await screen()).some((l) => /^greeter/.test(l)))
      const lines = await screen()
      const wide = lines.filter((l) => l.trimEnd().length > width)
      assert.deepEqual(wide, [], `every line fits ${width} columns:\n${lines.join('\n')}`)
      const head = lines.find((l) => l.startsWith('PLUGIN'))
      assert.ok(head, lines.join('\n'))
      for (const h of ['STATE', 'RECV']) assert.ok(head.includes(h), `${h} stays at ${width} columns`)
      if (width === 80) {
        // At 80 columns the books are all there: received, processed, failed, dropped, lost, dead.
        for (const h of ['RECV', 'PROC', 'FAIL', 'DROP', 'LOST', 'DEAD', 'P99']) assert.ok(head.includes(h), `${h} at 80 columns`)
      }
      assert.ok(lines.some((l) => /^flaky(@1\.0\.0)?\s+/.test(l)), 'a row per plugin')
      await tmux('kill-session', '-t', session)
    })
  }

  it('top | head exits quietly once head has gone', async () => {
    // bash reports the exit status of every command of the pipeline; top's is the first.
    const script = `OUTRIGGER_RUNTIME_DIR='${ws.runtimeDir}' '${process.execPath}' '${BIN}' --app firsthour top --interval 100 | head -n 3; echo "top=\${PIPESTATUS[0]}" >&2`
    const r = await new Promise<{ stdout: string; stderr: string }>((resolve) => {
      execFile('bash', ['-c', script], { timeout: 30_000 }, (_err, stdout, stderr) => resolve({ stdout, stderr }))
    })
    assert.match(r.stdout, /^firsthour /, 'the first frame began')
    assert.equal(r.stdout.split('\n').length, 4, 'three lines, then head closed the pipe')
    assert.equal(r.stderr.trim(), 'top=0', 'no EPIPE, no stack trace, exit 0')
  })

  it('status has a DEAD column, and each worker row adds up', async () => {
    const r = await run('status')
    assert.equal(r.code, 0, r.stderr)
    const lines = r.stdout.split('\n')
    const head = lines.find((l) => l.startsWith('PLUGIN'))!
    const row = lines.find((l) => l.startsWith('flaky@1.0.0'))!
    assert.ok(head && row, r.stdout)
    const cols = ['RECV', 'PROC', 'FAIL', 'DROP', 'LOST', 'DEAD']
    // Right-aligned numbers end under the end of their header.
    const at = (h: string) => Number(row.slice(0, head.indexOf(h) + h.length).trim().split(/\s+/).pop())
    const [recv, proc, fail, drop, lost, dead] = cols.map(at)
    assert.equal(dead, 1)
    const f = flaky()
    assert.equal(recv, proc + fail + drop + lost + dead + f.events.inFlight + f.queue.depth)
  })

  it('call runs a plugin function and prints its result', async () => {
    sup.emit('greet:hello', { times: 3 })
    await until('greeter to count', () => greeter().events.processed >= 1)
    const before = (await sup.call<number>('greeter.count'))
    const human = await run('call', 'greeter.count')
    assert.equal(human.code, 0, human.stderr)
    assert.equal(human.stdout.trim(), String(before))
    const json = await run('call', 'greeter.count', '{"ignored":true}', '--json')
    assert.equal(json.code, 0, json.stderr)
    assert.equal(JSON.parse(json.stdout), before)

    const unknown = await run('call', 'nobody.count')
    assert.equal(unknown.code, 1)
    assert.match(unknown.stderr, /RIG_ERR_UNKNOWN_TARGET/)
    const noDot = await run('call', 'greeter')
    assert.equal(noDot.code, 2)
    assert.match(noDot.stderr, /plugin\.function/)
    const badJson = await run('call', 'greeter.count', '{nope')
    assert.equal(badJson.code, 2)
    assert.match(badJson.stderr, /not JSON/)
  })
})

describe('outrigger start', () => {
  let ws: Workspace
  before(async () => {
    ws = await workspace(['greeter'])
  })
  after(() => ws.cleanup())

  it('takes the HTTP port from PORT', async () => {
    const port = await freePort()
    const child = spawn(process.execPath, [BIN, '--app', 'porty', 'start', '--plugins', ws.enabled], {
      cwd: ws.root,
      env: { ...process.env, PORT: String(port), OUTRIGGER_RUNTIME_DIR: ws.runtimeDir },
    })
    const { out, exited } = collect(child)
    try {
      await until('the supervisor to start', () => /"porty" running/.test(out()), 30_000)
      assert.match(out(), new RegExp(`http http://127\\.0\\.0\\.1:${port}\\b`))
      const res = await fetch(`http://127.0.0.1:${port}/_health`)
      assert.equal(res.status, 200)
    } finally {
      child.kill('SIGTERM')
    }
    assert.equal(await exited, 0, out())
  })

  it('refuses a PORT that is not a port, naming it', async () => {
    const r = await rig(['--app', 'badport', 'start', '--plugins', ws.enabled], { runtimeDir: ws.runtimeDir, cwd: ws.root, env: { PORT: 'eighty' } })
    assert.equal(r.code, 1)
    assert.match(r.stderr, /RIG_ERR_CONFIG_INVALID: the PORT environment variable must be an integer 0–65535 \(found "eighty"\)/)
  })
})
