/**
 * The dashboard (`GET /_dashboard`) in a real browser, and its status stream (`GET /_events/status`)
 * under load and abuse. The browser is Debian's chromium driven by playwright-core; without it the
 * browser tests skip with a loud message, and fail instead when OUTRIGGER_REQUIRE_BROWSER=1 (CI).
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import http from 'node:http'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { after, before, describe, it } from 'node:test'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import type { HostConfigInput } from '../src/config/config.js'
import { startHttpServer, type HttpServer } from '../src/http/server.js'
import { startSupervisor, type StartedSupervisor } from '../src/start.js'
import type { StatusReport } from '../src/supervisor/status-types.js'
import { until } from './helpers/wait.js'

/** The compiled test runs from dist/test. */
const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const CHROMIUM = process.env.OUTRIGGER_CHROMIUM ?? '/usr/bin/chromium'
const HAVE_BROWSER = existsSync(CHROMIUM)
const REQUIRE_BROWSER = process.env.OUTRIGGER_REQUIRE_BROWSER === '1'
const MISSING = `no browser at ${CHROMIUM}: install Debian's chromium (apt-get install -y chromium) to run the dashboard's browser tests`
// Without a browser the browser suites skip, loudly; where one is required (CI) they run and fail.
const SKIP = HAVE_BROWSER || REQUIRE_BROWSER ? false : MISSING
if (SKIP) {
  process.stderr.write(`\n${'!'.repeat(100)}\n!! SKIPPED: ${SKIP}\n${'!'.repeat(100)}\n\n`)
}

const DEMO_CONFIG: HostConfigInput = {
  logLevel: 'silent',
  plugins: {
    shop: { options: { stock: { widget: 1_000_000, gizmo: 1_000_000, gadget: 50 } } },
    analytics: { options: { costMs: 1 } },
  },
}

interface Host {
  sup: StartedSupervisor
  url: string
  stop(): Promise<void>
}

/** The demo plugins (and a worker that crashes on demand) behind a real HTTP host on a free port. */
async function demoHost(config: HostConfigInput = {}): Promise<Host> {
  const root = await mkdtemp(path.join(tmpdir(), 'outrigger-dashboard-'))
  const enabled = path.join(root, 'enabled')
  await mkdir(enabled)
  for (const p of ['shop', 'analytics', 'audit']) await symlink(path.join(ROOT, 'plugins', 'available', p), path.join(enabled, p), 'dir')
  await symlink(path.join(ROOT, 'test', 'fixtures', 'cli', 'crasher'), path.join(enabled, 'crasher'), 'dir')
  const sup = await startSupervisor({
    // Without a control socket the app name names nothing on the machine; it heads the page.
    app: 'outrigger',
    pluginsDir: enabled,
    stateDir: path.join(root, 'state'),
    store: 'memory',
    control: false,
    http: { port: 0 },
    config: { ...DEMO_CONFIG, ...config },
  })
  return {
    sup,
    url: sup.httpUrl!,
    async stop() {
      await sup.stop()
      await rm(root, { recursive: true, force: true })
    },
  }
}

/**
 * Debian's chromium, off the network but for the host under test. launch() gives the browser a
 * fresh profile folder of its own (and refuses a --user-data-dir), removed when it closes.
 */
function launch(): Promise<Browser> {
  if (!HAVE_BROWSER) throw new Error(`OUTRIGGER_REQUIRE_BROWSER=1 but ${MISSING}`)
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
}

/** The page's document, as far as the functions run in the page use it. */
type PageDoc = { document: { getElementById(id: string): { dataset: Record<string, string> } } }

const row = (plugin: string) => `#plugins tr[data-plugin="${plugin}"]`
const stateOf = (page: Page, plugin: string) => page.locator(`${row(plugin)} [data-role="plugin-state"]`).getAttribute('data-state')
const waitState = (page: Page, plugin: string, state: string, timeout = 20_000) =>
  page.waitForSelector(`${row(plugin)} [data-role="plugin-state"][data-state="${state}"]`, { timeout })

describe('dashboard in a browser', { skip: SKIP }, () => {
  let host: Host
  let browser: Browser
  let context: BrowserContext
  let page: Page
  const requests: string[] = []

  before(async () => {
    host = await demoHost()
    browser = await launch()
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } })
    page = await context.newPage()
    page.on('request', (r) => requests.push(r.url()))
  })
  after(async () => {
    await browser?.close()
    await host?.stop()
  })

  it('loads against the demo host and shows its plugins with their isolation, asking nothing of the outside world', async () => {
    const res = await page.goto(`${host.url}/_dashboard`)
    assert.equal(res?.status(), 200)
    assert.match(res?.headers()['content-security-policy'] ?? '', /connect-src 'self'/)
    await page.waitForSelector(row('crasher'))
    type Row = { dataset: Record<string, string>; cells: ArrayLike<{ textContent: string | null }> }
    const isolation = await page.$$eval('#plugins tbody tr', (rows) =>
      Object.fromEntries((rows as unknown as Row[]).map((r) => [r.dataset.plugin, r.cells[2]!.textContent])),
    )
    assert.deepEqual(isolation, { analytics: 'thread', audit: 'process', crasher: 'thread', shop: 'inline' })
    await page.waitForSelector('#conn[data-state="live"]')
    assert.equal(await page.textContent('#host-state'), 'running')
    assert.match((await page.textContent('#host-rss')) ?? '', /^\d+ MB$/)
    assert.equal(await stateOf(page, 'analytics'), 'running')
    // Instances: analytics runs two threads.
    assert.equal(await page.locator(`${row('analytics')} ul.instances li`).count(), 2)
    // Fits 1280×800 without sideways scrolling.
    assert.ok((await page.evaluate('document.documentElement.scrollWidth')) as number <= 1280)
    const foreign = requests.filter((u) => !u.startsWith(host.url + '/'))
    assert.deepEqual(foreign, [])
  })

  it('the chart receives at least 3 updates while npm run demo:load runs, and shows the load', async () => {
    const before = Number(await page.getAttribute('#chart', 'data-updates'))
    const load = spawn(process.execPath, [path.join(ROOT, 'dist', 'bench', 'demo-load.js'), '--url', host.url, '--orders', '3000', '--concurrency', '4'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    load.stdout.on('data', (d: Buffer) => (out += d))
    load.stderr.on('data', (d: Buffer) => (out += d))
    const exited = new Promise<number | null>((resolve) => load.once('exit', resolve))
    await page.waitForFunction((n) => Number((globalThis as unknown as PageDoc).document.getElementById('chart').dataset.updates) >= n, before + 3, { timeout: 30_000 })
    assert.equal(await exited, 0, out)
    await page.waitForFunction(() => Number((globalThis as unknown as PageDoc).document.getElementById('chart').dataset.maxRate) > 0, undefined, { timeout: 10_000 })
    // uPlot drew into the page: its canvas is there.
    assert.equal(await page.locator('#chart canvas').count(), 1)
    const processed = await page.locator('#counters li').allTextContents()
    assert.ok(processed.some((t) => t.startsWith('failed')), processed.join(' | '))
  })

  it('a screenshot at 1280×800', async () => {
    const file = path.join(tmpdir(), `outrigger-dashboard-${process.pid}.png`)
    const png = await page.screenshot({ path: file })
    assert.deepEqual([...png.subarray(1, 4)], [...Buffer.from('PNG')])
    // The committed one is refreshed on request, so an ordinary run leaves the tree clean.
    if (process.env.OUTRIGGER_UPDATE_SCREENSHOT === '1') await writeFile(path.join(ROOT, 'docs', 'img', 'dashboard.png'), png)
    await rm(file, { force: true })
    const readme = await readFile(path.join(ROOT, 'README.md'), 'utf8')
    assert.match(readme, /!\[[^\]]*\]\(docs\/img\/dashboard\.png\)/)
    assert.ok(existsSync(path.join(ROOT, 'docs', 'img', 'dashboard.png')))
  })

  it('a plugin driven into quarantine shows as quarantined; restart, then confirm, brings it back to running without a reload', async () => {
    await page.evaluate(() => ((globalThis as unknown as { marker: number }).marker = 42))
    host.sup.emit('crash:now', {})
    await until('the first restart', () => {
      const p = host.sup.status().plugins.find((x) => x.name === 'crasher')!
      return p.restarts >= 1 && p.state === 'running'
    })
    host.sup.emit('crash:now', {})
    await waitState(page, 'crasher', 'quarantined')
    assert.match((await page.textContent(`${row('crasher')} [data-role="last-error"]`)) ?? '', /RIG_ERR_CRASH_LOOP/)

    // Cancel first: nothing happens.
    await page.click(`${row('crasher')} button[data-action="restart"]`)
    await page.waitForSelector('#confirm[open]')
    await page.keyboard.press('Escape')
    await page.waitForSelector('#confirm:not([open])', { state: 'attached' })
    assert.equal(host.sup.status().plugins.find((x) => x.name === 'crasher')!.state, 'quarantined')

    await page.click(`${row('crasher')} button[data-action="restart"]`)
    await page.click('#confirm-ok')
    await waitState(page, 'crasher', 'running')
    await page.locator('#message:not(.error)', { hasText: 'restart crasher: done' }).waitFor({ timeout: 20_000 })
    assert.equal(await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker), 42, 'the page was reloaded')
  })

  it('works by keyboard: Tab reaches a restart button, Enter asks, Enter on Confirm restarts', async () => {
    const restarts = host.sup.status().plugins.find((x) => x.name === 'crasher')!.restarts
    await page.focus('body')
    let focused = ''
    for (let i = 0; i < 40 && !focused.startsWith('restart:'); i++) {
      await page.keyboard.press('Tab')
      focused = await page.evaluate(() => {
        type El = { tagName: string; dataset: Record<string, string>; closest(s: string): El | null }
        const a = (globalThis as unknown as { document: { activeElement: El | null } }).document.activeElement
        return a?.dataset.action ? `${a.dataset.action}:${a.closest('tr')?.dataset.plugin}` : (a?.tagName ?? '')
      })
    }
    assert.match(focused, /^restart:/)
    await page.keyboard.press('Enter')
    await page.waitForSelector('#confirm[open]')
    await page.focus('#confirm-ok')
    await page.keyboard.press('Enter')
    await page.waitForSelector('#confirm:not([open])', { state: 'attached' })
    const plugin = focused.split(':')[1]!
    await until(`${plugin} restarted`, () => {
      const p = host.sup.status().plugins.find((x) => x.name === plugin)!
      return p.state === 'running' && (plugin !== 'crasher' || p.restarts >= restarts) && p
    })
    // The answer comes once the plugin is back up; wait for it, so it cannot overwrite the next test's.
    await page.locator('#message:not(.error)', { hasText: `restart ${plugin}: done` }).waitFor({ timeout: 30_000 })
  })

  it('an action on an unknown plugin shows a clear error on the page', async () => {
    await page.evaluate(() => {
      void (globalThis as unknown as { outriggerDashboard: { act(p: string, a: string): Promise<void> } }).outriggerDashboard.act('ghost', 'restart')
    })
    await page.click('#confirm-ok')
    const msg = await page.waitForSelector('#message.error')
    const text = (await msg.textContent()) ?? ''
    assert.match(text, /Could not restart "ghost": 404 RIG_ERR_UNKNOWN_PLUGIN/)
  })
})

describe('dashboard in a browser, with a bearer token set', { skip: SKIP }, () => {
  const TOKEN = 'dashboard-test-token-3f9a'
  let host: Host
  let browser: Browser

  before(async () => {
    host = await demoHost({ http: { token: TOKEN } })
    browser = await launch()
  })
  after(async () => {
    await browser?.close()
    await host?.stop()
  })

  it('npm run demo:load sends the token it is given, and says why when it has none', async () => {
    const run = (extra: string[]) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const load = spawn(process.execPath, [path.join(ROOT, 'dist', 'bench', 'demo-load.js'), '--url', host.url, '--orders', '200', '--concurrency', '4', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] })
        let out = ''
        load.stdout.on('data', (d: Buffer) => (out += d))
        load.stderr.on('data', (d: Buffer) => (out += d))
        load.once('exit', (code) => resolve({ code, out }))
      })
    const refused = await run([])
    assert.notEqual(refused.code, 0)
    assert.match(refused.out, /401/)
    const served = await run(['--token', TOKEN])
    assert.equal(served.code, 0, served.out)
  })

  it('works when the browser sends the token in a header, which never appears in a URL', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, extraHTTPHeaders: { authorization: `Bearer ${TOKEN}` } })
    const page = await context.newPage()
    const urls: string[] = []
    page.on('request', (r) => urls.push(r.url()))
    const res = await page.goto(`${host.url}/_dashboard`)
    assert.equal(res?.status(), 200)
    await page.waitForSelector('#conn[data-state="live"]')
    await page.waitForSelector(row('audit'))
    assert.ok(urls.some((u) => u.endsWith('/_events/status')), urls.join('\n'))
    assert.deepEqual(
      urls.filter((u) => u.includes(TOKEN)),
      [],
    )
    await context.close()
  })

  it('is refused without it', async () => {
    const context = await browser.newContext()
    const page = await context.newPage()
    const res = await page.goto(`${host.url}/_dashboard`)
    assert.equal(res?.status(), 401)
    assert.match((await page.textContent('body')) ?? '', /RIG_ERR_HTTP_UNAUTHORIZED/)
    const stream = await page.evaluate(async () => (await fetch('/_events/status')).status)
    assert.equal(stream, 401)
    const action = await page.evaluate(async () => (await fetch('/_/_plugins/audit/restart', { method: 'POST', headers: { 'x-outrigger-action': '1' } })).status)
    assert.equal(action, 401)
    await context.close()
  })
})

describe('browser tests in CI', () => {
  it('.ci/run installs chromium when it is missing and requires it', async () => {
    const ci = (await readFile(path.join(ROOT, '.ci', 'run'), 'utf8')).split('\n').filter((l) => !l.trim().startsWith('#'))
    assert.ok(ci.some((l) => /apt-get install .*\bchromium\b/.test(l)), 'installs chromium')
    assert.ok(ci.some((l) => /command -v chromium/.test(l)), 'only when missing')
    assert.ok(ci.some((l) => /^export .*OUTRIGGER_REQUIRE_BROWSER=1/.test(l.trim())), 'fails rather than skips')
  })
})

/** Reads one SSE stream until `n` status events have come, then closes it. */
function readStatusEvents(url: string, n: number, headers: Record<string, string> = {}): Promise<{ status: number; type: string; events: StatusReport[] }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url + '/_events/status', { headers, agent: false }, (res) => {
      const events: StatusReport[] = []
      let buf = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => {
        buf += d
        let end
        while ((end = buf.indexOf('\n\n')) !== -1) {
          const block = buf.slice(0, end)
          buf = buf.slice(end + 2)
          const data = block.split('\n').find((l) => l.startsWith('data: '))
          if (block.includes('event: status') && data) events.push(JSON.parse(data.slice(6)) as StatusReport)
        }
        if (events.length >= n || res.statusCode !== 200) {
          req.destroy()
          resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), events })
        }
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), events }))
    })
    req.on('error', reject)
  })
}

describe('GET /_events/status', () => {
  let sup: StartedSupervisor
  let server: HttpServer
  let root: string

  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'outrigger-events-'))
    const enabled = path.join(root, 'enabled')
    await mkdir(enabled)
    for (const p of ['shop', 'analytics']) await symlink(path.join(ROOT, 'plugins', 'available', p), path.join(enabled, p), 'dir')
    sup = await startSupervisor({ app: `events-${path.basename(root)}`, pluginsDir: enabled, stateDir: path.join(root, 'state'), store: 'memory', control: false, http: false, config: DEMO_CONFIG })
    server = await startHttpServer(sup, { host: '127.0.0.1', port: 0, maxBodyBytes: 1024, requestTimeoutMs: 5000, statusEvents: { intervalMs: 20, maxBufferedBytes: 64 * 1024 } })
  })
  after(async () => {
    await sup?.stop()
    await rm(root, { recursive: true, force: true })
  })

  it('streams the status report as server-sent events, a snapshot at once and then one per interval', async () => {
    const r = await readStatusEvents(server.url, 3)
    assert.equal(r.status, 200)
    assert.match(r.type, /^text\/event-stream/)
    assert.equal(r.events.length, 3)
    assert.deepEqual(r.events[0]!.plugins.map((p) => p.name).sort(), ['analytics', 'shop'])
    assert.ok(r.events[2]!.uptimeMs > r.events[0]!.uptimeMs)
    await until('the stream to be let go', () => server.statusStreams() === 0)
  })

  it('200 clients connected and then dropped leave no stream open and do not grow the heap', async () => {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    const round = async (): Promise<void> => {
      const reqs: http.ClientRequest[] = []
      const first: Array<Promise<void>> = []
      for (let i = 0; i < 200; i++) {
        first.push(
          new Promise((resolve, reject) => {
            const req = http.get(server.url + '/_events/status', { agent: false }, (res) => res.once('data', () => resolve()))
            req.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(err)))
            reqs.push(req)
          }),
        )
      }
      await Promise.all(first)
      assert.equal(server.statusStreams(), 200)
      for (const r of reqs) r.destroy()
      await until('every stream to be dropped', () => server.statusStreams() === 0)
    }
    const heap = (): number => {
      gc()
      gc()
      return process.memoryUsage().heapUsed
    }
    await round()
    const base = heap()
    for (let i = 0; i < 3; i++) await round()
    const grown = heap() - base
    // 600 leaked streams (a response, a socket and their buffers each) would be several MB.
    assert.ok(grown < 2 * 1024 * 1024, `the heap grew by ${(grown / 1024).toFixed(0)} KiB over 600 dropped streams`)
  })

  it('a client that stops reading is dropped, not buffered for', async () => {
    // A snapshot every millisecond fills the socket's buffers within seconds.
    const fast = await startHttpServer(sup, { host: '127.0.0.1', port: 0, maxBodyBytes: 1024, requestTimeoutMs: 5000, statusEvents: { intervalMs: 1, maxBufferedBytes: 64 * 1024 } })
    try {
      const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
        const req = http.get(fast.url + '/_events/status', { agent: false }, resolve)
        req.on('error', reject)
      })
      res.pause()
      res.socket.pause()
      await until('the stream to open', () => fast.statusStreams() === 1)
      await until('the server to let the stalled client go', () => fast.statusStreams() === 0, 60_000)
      res.destroy()
    } finally {
      await fast.close()
    }
  })

  it('with a token set: 401 without it, a stream with it', async () => {
    const TOKEN = 'events-test-token'
    const h = await demoHost({ http: { token: TOKEN } })
    try {
      const refused = await readStatusEvents(h.url, 1)
      assert.equal(refused.status, 401)
      const ok = await readStatusEvents(h.url, 1, { authorization: `Bearer ${TOKEN}` })
      assert.equal(ok.status, 200)
      assert.equal(ok.events.length, 1)
    } finally {
      await h.stop()
    }
  })
})

describe('dashboard routes', () => {
  let host: Host
  before(async () => {
    host = await demoHost()
  })
  after(() => host?.stop())

  it('serves the page and its assets from the package, and nothing else under /_dashboard/', async () => {
    const page = await fetch(host.url + '/_dashboard')
    assert.equal(page.status, 200)
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/)
    assert.equal(page.headers.get('x-frame-options'), 'DENY')
    const html = await page.text()
    for (const asset of html.matchAll(/(?:src|href)="(_dashboard\/[^"]+)"/g)) {
      const r = await fetch(`${host.url}/${asset[1]}`)
      assert.equal(r.status, 200, asset[1])
    }
    assert.match(html, /uPlot\.iife\.min\.js/)
    assert.equal((await fetch(host.url + '/_dashboard/../package.json')).status, 404)
    assert.equal((await fetch(host.url + '/_dashboard/%2e%2e%2fpackage.json')).status, 404)
    assert.equal((await fetch(host.url + '/_dashboard/index.html')).status, 404)
    assert.equal((await fetch(host.url + '/_dashboard', { method: 'POST' })).status, 405)
    const info = (await (await fetch(host.url + '/_info')).json()) as { routes: Array<{ path: string }> }
    assert.ok(info.routes.some((r) => r.path === '/_dashboard'))
    assert.ok(info.routes.some((r) => r.path === '/_events/status'))
  })

  it('an operator action needs the action header: a cross-site form cannot restart a plugin', async () => {
    const restarts = (): number => host.sup.status().plugins.find((p) => p.name === 'analytics')!.restarts
    const before = restarts()
    const form = await fetch(host.url + '/_/_plugins/analytics/restart', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'x=1',
    })
    assert.equal(form.status, 403)
    const body = (await form.json()) as { error: { code: string; message: string } }
    assert.equal(body.error.code, 'RIG_ERR_HTTP_FORBIDDEN')
    assert.match(body.error.message, /x-outrigger-action/)
    assert.equal(restarts(), before)
    assert.equal((await fetch(host.url + '/_/_plugins/analytics/restart')).status, 405)
    // The same guard holds for the dead-letter operations the page's other buttons call.
    for (const op of ['dead-letters/replay', 'dead-letters/purge']) {
      const forged = await fetch(`${host.url}/_/_plugins/analytics/${op}`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' })
      assert.equal(forged.status, 403, op)
    }

    const ok = await fetch(host.url + '/_/_plugins/analytics/restart', { method: 'POST', headers: { 'x-outrigger-action': '1' } })
    assert.equal(ok.status, 200)
    assert.deepEqual(((await ok.json()) as { result: unknown }).result, { plugin: 'analytics', restarted: true })
    const ghost = await fetch(host.url + '/_/_plugins/ghost/restart', { method: 'POST', headers: { 'x-outrigger-action': '1' } })
    assert.equal(ghost.status, 404)
    assert.equal(((await ghost.json()) as { error: { code: string } }).error.code, 'RIG_ERR_UNKNOWN_PLUGIN')
  })
})
