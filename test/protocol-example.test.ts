import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFile, symlink } from 'node:fs/promises'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { startSupervisor } from '../src/start.js'
import type { Supervisor } from '../src/supervisor/types.js'
import { ROOT, rig, workspace } from './helpers/cli-run.js'
import { WsClient } from './helpers/ws-client.js'

const EXAMPLE = path.join(ROOT, 'docs', 'examples', 'ws-echo')
const FILES = ['manifest.json', 'package.json', 'index.js', path.join('test', 'index.test.js')]

describe('docs: the protocol entry point example (docs/examples/ws-echo)', () => {
  let ws: Awaited<ReturnType<typeof workspace>>
  let sup: (Supervisor & { httpUrl: string }) | undefined

  before(async () => {
    ws = await workspace([])
    // The scaffolded plugin imports ws: the project's node_modules, as after `npm install outrigger`.
    await symlink(path.join(ROOT, 'node_modules'), path.join(ws.root, 'node_modules'), 'dir')
  })
  after(async () => {
    await sup?.stop()
    await ws?.cleanup()
  })

  it('`outrigger new ws-echo --kind protocol` writes the example, and docs/plugins.md shows its code', async () => {
    const available = path.join(ws.root, 'plugins', 'available')
    const made = await rig(['new', 'ws-echo', '--kind', 'protocol', '--dir', available], { runtimeDir: ws.runtimeDir, cwd: ws.root })
    assert.equal(made.code, 0, made.stderr)
    assert.match(made.stdout, /created protocol plugin ws-echo/)
    for (const f of FILES) assert.equal(await readFile(path.join(available, 'ws-echo', f), 'utf8'), await readFile(path.join(EXAMPLE, f), 'utf8'), f)
    const doc = await readFile(path.join(ROOT, 'docs', 'plugins.md'), 'utf8')
    assert.ok(doc.includes('## Protocol entry points'))
    assert.ok(doc.includes('```js\n' + (await readFile(path.join(EXAMPLE, 'index.js'), 'utf8')) + '```'), 'the page shows index.js as it is')
    const v = await rig(['validate', path.join(available, 'ws-echo')], { runtimeDir: ws.runtimeDir })
    assert.equal(v.code, 0, v.stdout + v.stderr)

    for (const args of [['--kind', 'protocol', '--type', 'worker'], ['--kind', 'carrier-pigeon']]) {
      const bad = await rig(['new', 'nope', ...args], { runtimeDir: ws.runtimeDir, cwd: ws.root })
      assert.equal(bad.code, 2, args.join(' '))
      assert.match(bad.stderr, /--kind/)
    }
  })

  it("passes its own test (npm test in the plugin's folder)", async () => {
    const child = spawn(process.execPath, ['--test'], { cwd: EXAMPLE, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout!.on('data', (d) => (out += d))
    const code = await new Promise((resolve) => child.once('exit', resolve))
    assert.equal(code, 0, out)
  })

  it('serves a WebSocket request through ctx.execute with the envelope HTTP answers', async () => {
    await symlink(EXAMPLE, path.join(ws.enabled, 'ws-echo'), 'dir')
    sup = (await startSupervisor({
      app: `example-${path.basename(ws.root)}`,
      pluginsDir: ws.enabled,
      stateDir: path.join(ws.root, 'state'),
      store: 'memory',
      control: false,
      http: { port: 0 },
      config: { logLevel: 'silent', plugins: { 'ws-echo': { options: { port: 0 } } } },
    })) as Supervisor & { httpUrl: string }
    const port = await sup.call<number>('ws-echo.port')
    const client = await WsClient.open(`ws://127.0.0.1:${port}`)
    try {
      const said = await client.request({ requestId: 'e-1', controller: 'ws-echo/echo', action: 'say', body: { text: 'hi' } })
      assert.deepEqual(said, { requestId: 'e-1', status: 200, error: null, controller: 'ws-echo/echo', action: 'say', result: { said: { text: 'hi' } } })
      const res = await fetch(`${sup.httpUrl}/_/ws-echo/echo/say`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'e-1' }, body: '{"text":"hi"}' })
      assert.deepEqual(await res.json(), said)
      const unknown = await client.request({ controller: 'ws-echo/echo', action: 'shout' })
      assert.deepEqual([unknown.status, unknown.error.code], [404, 'RIG_ERR_UNKNOWN_TARGET'])
      client.send('not json')
      assert.deepEqual(await client.whenClosed(), { code: 1003, reason: 'send JSON text frames' })
    } finally {
      client.close()
    }
  })
})
