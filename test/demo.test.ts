/**
 * The demo, as docs/demo.md tells it: the real binary runs `start` in a copy of the repo's demo
 * plugins and config, the documented HTTP calls answer as documented, the worker plugins process
 * every order, and SIGTERM ends it all cleanly, child process included.
 */
import assert from 'node:assert/strict'
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { cp, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import type { PluginStatus, StatusReport } from '../src/supervisor/status-types.js'
import { alive, until } from './helpers/wait.js'
import { WsClient } from './helpers/ws-client.js'

/** The compiled test runs from dist/test. */
const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const BIN = path.join(ROOT, 'bin', 'outrigger.cjs')
const ORDERS = 20

interface Envelope<R = unknown> {
  status: number
  error: { code: string; message: string } | null
  result: R
}

/** Resolves with the first match of `re` in the child's stdout, or rejects if it exits first. */
function lineOf(child: ChildProcess, re: RegExp, output: () => string, deadlineMs = 60_000): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`no line matching ${re} within ${deadlineMs} ms; output:\n${output()}`)), deadlineMs)
    const onData = () => {
      const m = output().match(re)
      if (m) done(null, m)
    }
    const onExit = (code: number | null) => done(new Error(`start exited (${code}) before listening; output:\n${output()}`))
    function done(err: Error | null, m?: RegExpMatchArray) {
      clearTimeout(timer)
      child.stdout?.off('data', onData)
      child.off('exit', onExit)
      if (err) reject(err)
      else resolve(m!)
    }
    child.stdout?.on('data', onData)
    child.once('exit', onExit)
  })
}

describe('the demo (npm start)', () => {
  let dir: string
  let child: ChildProcess
  let exited: Promise<number | null>
  let output = ''
  let url: string
  let wsUrl: string
  const env = (): NodeJS.ProcessEnv => ({ ...process.env, NO_COLOR: '1', OUTRIGGER_RUNTIME_DIR: path.join(dir, 'run') })

  const post = async (action: string, body: unknown) => {
    const res = await fetch(`${url}/_/shop/orders/${action}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    return (await res.json()) as Envelope<any>
  }
  const get = async <R = any>(p: string): Promise<R> => (await (await fetch(`${url}${p}`)).json()) as R
  const plugin = (s: StatusReport, name: string): PluginStatus => {
    const p = s.plugins.find((x) => x.name === name)
    assert.ok(p, `plugin ${name} in the status report`)
    return p
  }

  before(async () => {
    // A copy of what a user has after `npm install`: the plugins (links kept as they are, relative),
    // the config, and node_modules where the shop finds zod. The state lands in the copy.
    dir = await mkdtemp(path.join(tmpdir(), 'outrigger-demo-'))
    await cp(path.join(ROOT, 'plugins'), path.join(dir, 'plugins'), { recursive: true, verbatimSymlinks: true })
    // The demo's config, with the WebSocket port set to 0 for the same reason as --port 0 below.
    const config = JSON.parse(await readFile(path.join(ROOT, 'outrigger.config.json'), 'utf8'))
    config.plugins['ws-protocol'].options.port = 0
    await writeFile(path.join(dir, 'outrigger.config.json'), JSON.stringify(config))
    await symlink(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir')
    // `npm start` is `outrigger start`; port 0 only so the test never collides with a running demo.
    child = spawn(process.execPath, [BIN, 'start', '--port', '0'], { cwd: dir, env: env(), stdio: ['ignore', 'pipe', 'pipe'] })
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d))
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d))
    exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)))
    const m = await lineOf(child, /running: 6 plugin\(s\);.*; http (http:\/\/\S+)/, () => output)
    url = m[1]
    // ws-protocol says where it listens in its init, before the host says it is running.
    const ws = output.match(/ws-protocol listening on (ws:\/\/[^"\s]+)/)
    assert.ok(ws, `ws-protocol did not say where it listens; output:\n${output}`)
    wsUrl = ws[1]!
  })

  after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exited
    }
    await rm(dir, { recursive: true, force: true })
  })

  it('takes an order and answers with the stock left (from outrigger.config.json)', async () => {
    const r = await post('create', { item: 'widget', qty: 3 })
    assert.equal(r.status, 200, JSON.stringify(r))
    assert.deepEqual({ item: r.result.order.item, qty: r.result.order.qty }, { item: 'widget', qty: 3 })
    assert.equal(r.result.stockLeft, 100000 - 3)
  })

  it('refuses an order for more than is in stock with 409 and says why', async () => {
    const r = await post('create', { item: 'gadget', qty: 51 })
    assert.equal(r.status, 409)
    assert.equal(r.error?.message, 'not enough "gadget" in stock: 51 asked, 50 left')
    const bad = await post('create', { item: 'sprocket', qty: 1 })
    assert.equal(bad.status, 422)
    assert.match(bad.error!.message, /unknown item "sprocket": the shop sells widget, gizmo, gadget/)
  })

  it('serves the shop over WebSocket (ws-protocol) and pushes its order events to a subscriber', async () => {
    const ws = await WsClient.open(wsUrl)
    try {
      const ack = await ws.request({ subscribe: 'shop/orders:after*' })
      assert.equal(ack.status, 200, JSON.stringify(ack))
      // A read, so the order counts below stay those of the HTTP orders.
      const r = await ws.request({ controller: 'shop/orders', action: 'stock' })
      assert.deepEqual([r.status, r.controller, r.action], [200, 'shop/orders', 'stock'])
      assert.deepEqual(r.result, (await get<Envelope>('/_/shop/orders/stock')).result)
      const event = await ws.next('the afterStock event', (f) => f.event === 'shop/orders:afterStock')
      assert.deepEqual([event.subscription, event.payload.result], ['shop/orders:after*', r.result])
    } finally {
      ws.close()
    }
  })

  it('reads the stock: the refused order took nothing', async () => {
    const r = await get<Envelope<Record<string, number>>>('/_/shop/orders/stock')
    assert.deepEqual(r.result, { widget: 99997, gizmo: 100000, gadget: 50 })
  })

  it('hands every accepted order to analytics (2 threads) and audit (a child process)', async () => {
    for (let i = 1; i < ORDERS; i++) assert.equal((await post('create', { item: i % 2 ? 'gizmo' : 'gadget', qty: 1 })).status, 200)
    const s = await until('analytics and audit to process every order', async () => {
      const s = await get<StatusReport>('/_status')
      const done = ['analytics', 'audit'].every((n) => plugin(s, n).events.processed === ORDERS)
      return done ? s : undefined
    }, 30_000)
    const analytics = plugin(s, 'analytics')
    assert.deepEqual([analytics.isolation, analytics.instances.length, analytics.state], ['thread', 2, 'running'])
    const audit = plugin(s, 'audit')
    assert.deepEqual([audit.isolation, audit.delivery, audit.state], ['process', 'at-least-once', 'running'])
    for (const p of [analytics, audit]) assert.deepEqual({ ...p.events, processed: 0 }, { received: ORDERS, processed: 0, failed: 0, inFlight: 0, redelivered: 0, recovered: 0, deadLettered: 0, lost: 0 })
    assert.equal(s.health, 'healthy')

    // The counts reach ctx.state a flush later; the report asks the shop's items back over ctx.call.
    const report = await until('the analytics report to count every order', async () => {
      const r = await get<Envelope<{ orders: number; units: Record<string, number> }>>('/_/shop/reports/analytics')
      // Each thread flushes its order count and its unit counts as separate increments.
      const units = Object.values(r.result.units).reduce((x, y) => x + y, 0)
      return r.result.orders === ORDERS && units === 3 + (ORDERS - 1) ? r.result : undefined
    }, 30_000)
    assert.deepEqual(report.units, { widget: 3, gizmo: 10, gadget: 9 })

    const tail = await get<Envelope<Array<{ orderId: number; pid: number }>>>('/_/shop/reports/audit?n=3')
    assert.deepEqual(tail.result.map((l) => l.orderId), [ORDERS - 2, ORDERS - 1, ORDERS])
    assert.ok(tail.result.every((l) => l.pid === audit.instances[0].pid && l.pid !== s.pid), 'audit writes from its own process')
  })

  it('copies the records of a file dropped into .outrigger/spool to .outrigger/out/records.ndjson', async () => {
    const lines = [1, 2, 3].map((i) => JSON.stringify({ sensor: 'demo', i }))
    await writeFile(path.join(dir, '.outrigger', 'spool', 'readings.ndjson'), lines.join('\n') + '\n')
    const out = await until('three records in the sink file', async () => {
      const text = await readFile(path.join(dir, '.outrigger', 'out', 'records.ndjson'), 'utf8').catch(() => '')
      const got = text.split('\n').filter(Boolean)
      return got.length === 3 && got
    }, 30_000)
    assert.deepEqual(out.map((l) => JSON.parse(l).payload.record.i), [1, 2, 3])
  })

  it('`outrigger status --json` shows the same host over the control socket', async () => {
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [BIN, 'status', '--json'], { cwd: dir, env: env() }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout))),
    )
    const s = JSON.parse(out) as StatusReport
    assert.equal(s.pid, child.pid)
    assert.deepEqual(s.plugins.map((p) => p.name).sort(), ['analytics', 'audit', 'ndjson-sink', 'ndjson-source', 'shop', 'ws-protocol'])
  })

  it('stops on SIGTERM with exit code 0, leaving no child process and a complete audit log', async () => {
    const s = await get<StatusReport>('/_status')
    const auditPid = plugin(s, 'audit').instances[0].pid
    assert.ok(alive(auditPid))
    child.kill('SIGTERM')
    const code = await Promise.race([exited, until('the supervisor to exit after SIGTERM', async () => (child.exitCode ?? child.signalCode ?? undefined), 30_000)])
    assert.equal(code, 0, output)
    // The supervisor waits for its children before it exits, so the child is gone by now.
    assert.equal(alive(auditPid), false, `audit's process ${auditPid} outlived the supervisor`)
    const lines = (await readFile(path.join(dir, '.outrigger', 'state', 'data', 'audit', 'audit.jsonl'), 'utf8')).trim().split('\n')
    const ids = new Set(lines.map((l) => (JSON.parse(l) as { orderId: number }).orderId))
    assert.equal(ids.size, ORDERS)
  })
})
