/**
 * What a new user meets in the first hour, through the real binary against real supervisors:
 * `top` within the terminal's width (in a tmux pane) and quiet under `| head`, a status table
 * whose rows add up, `outrigger call`, and `PORT` setting the HTTP port of `outrigger start`.
 */
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { startSupervisor } from '../src/start.js'
import type { PluginStatus } from '../src/supervisor/status-types.js'
import type { Supervisor } from '../src/supervisor/types.js'
import { reportDelta, runCounts } from '../bench/demo-summary.js'
import { BIN, ROOT, collect, rig, startHost, workspace } from './helpers/cli-run.js'
import { until } from './helpers/wait.js'

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
      // The session stays until after(): killing the server's last session makes the server exit,
      // and the next test's new-session could race that exit.
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

describe('the demo shop', () => {
  let root: string
  let sup: Supervisor
  let url: string
  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'rig-shop-'))
    await mkdir(path.join(root, 'enabled'))
    await symlink(path.join(ROOT, 'plugins', 'available', 'shop'), path.join(root, 'enabled', 'shop'), 'dir')
    sup = await startSupervisor({
      app: `shop-${path.basename(root)}`,
      pluginsDir: path.join(root, 'enabled'),
      stateDir: path.join(root, 'state'),
      store: 'memory',
      control: false,
      http: { port: 0 },
      config: { logLevel: 'silent', plugins: { shop: { options: { stock: { widget: 5 } } } } },
    })
    url = (sup as Supervisor & { httpUrl: string }).httpUrl
  })
  after(async () => {
    await sup.stop()
    await rm(root, { recursive: true, force: true })
  })

  const create = async (init: RequestInit = {}) => {
    const res = await fetch(`${url}/_/shop/orders/create`, init)
    return (await res.json()) as { status: number; error: { message: string } | null }
  }
  const post = (body: unknown) => create({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

  it('names what is missing from an order', async () => {
    const none = await create()
    assert.equal(none.status, 400)
    assert.match(none.error!.message, /an order is a JSON object \{"item": …, "qty": …\}.*found no body.*the shop sells widget/)
    const noItem = await post({ qty: 1 })
    assert.equal(noItem.status, 400)
    assert.match(noItem.error!.message, /no "item": send one of widget/)
    const noQty = await post({ item: 'widget' })
    assert.equal(noQty.status, 400)
    assert.match(noQty.error!.message, /no "qty": send an integer from 1 to 1000/)
    const notObject = await post([1, 2])
    assert.equal(notObject.status, 400)
    assert.match(notObject.error!.message, /found \[1,2\]/)
    const badItem = await post({ item: 7, qty: 1 })
    assert.equal(badItem.status, 400)
    assert.match(badItem.error!.message, /"item" must be a string/)
    const unknown = await post({ item: 'gizmo', qty: 1 })
    assert.equal(unknown.status, 422)
    assert.match(unknown.error!.message, /unknown item "gizmo"/)
    const ok = await post({ item: 'widget', qty: 2 })
    assert.equal(ok.status, 200)
    assert.equal(ok.error, null)
  })
})

describe('demo:load summary', () => {
  const status = (n: Partial<Record<'received' | 'processed' | 'failed' | 'lost' | 'dropped' | 'deadLettered', number>>): PluginStatus =>
    ({
      queue: { depth: 0, max: 10, dropped: n.dropped ?? 0, rejected: 0 },
      events: { received: n.received ?? 0, processed: n.processed ?? 0, failed: n.failed ?? 0, inFlight: 0, redelivered: 0, deadLettered: n.deadLettered ?? 0, lost: n.lost ?? 0 },
    }) as PluginStatus

  it("counts only this run's events, not the totals of earlier runs", () => {
    const before = status({ received: 2000, processed: 1990, failed: 4, lost: 3, dropped: 3, deadLettered: 0 })
    const after = status({ received: 2500, processed: 2488, failed: 5, lost: 3, dropped: 4, deadLettered: 0 })
    assert.deepEqual(runCounts(after, before), { received: 500, processed: 498, failed: 1, dropped: 1, rejected: 0, lost: 0, redelivered: 0, deadLettered: 0 })
  })

  it("reports this run's share of the analytics report", () => {
    const before = { orders: 1950, flagged: 47, units: { widget: 900, gizmo: 1000, gadget: 50 } }
    const after = { orders: 2430, flagged: 60, units: { widget: 1140, gizmo: 1240, gadget: 50, sprocket: 2 } }
    assert.deepEqual(reportDelta(after, before), { orders: 480, flagged: 13, units: { widget: 240, gizmo: 240, gadget: 0, sprocket: 2 } })
  })
})
