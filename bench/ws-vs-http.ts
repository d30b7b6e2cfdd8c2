/**
 * Request round trips per second over the two entry points, in one run: WebSocket frames through
 * the ws-protocol plugin and HTTP keep-alive requests through the HTTP face, both on `sup.execute`,
 * against the same echo action. Each is set beside a raw server of its own protocol (a bare `ws`
 * server and a bare `node:http` server that parse the JSON and answer it), and the last row puts
 * WebSocket beside HTTP. C connections each send their next request when the last one answered;
 * clients run in this process, as the raw servers' clients do.
 */
import http from 'node:http'
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { WebSocket, WebSocketServer } from 'ws'
import { startSupervisor } from '../src/index.js'
import { type Bench, type Row, log, median, pairedRounds } from './common.js'

const CONNECTIONS = 8
const PER_ROUND = 4000
const ROUNDS = 5
const WARMUP = 1
const WS_PLUGIN = fileURLToPath(new URL('../../plugins/available/ws-protocol', import.meta.url))
const BODY = { item: 'widget', qty: 3, note: 'a small order, as a client would send one' }

type Send = (body: unknown) => Promise<unknown>

/** Round trips per second: CONNECTIONS loops share PER_ROUND requests. */
async function rate(senders: Send[]): Promise<number> {
  let left = PER_ROUND
  const t0 = performance.now()
  await Promise.all(
    senders.map(async (send) => {
      while (left-- > 0) await send(BODY)
    }),
  )
  return PER_ROUND / ((performance.now() - t0) / 1000)
}

/** A WebSocket client that matches answers to requests by requestId. */
async function wsSender(url: string, frame: (id: string, body: unknown) => object): Promise<{ send: Send; close(): void }> {
  const ws = new WebSocket(url, { perMessageDeflate: false })
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
  const waiting = new Map<string, (v: unknown) => void>()
  ws.on('message', (data) => {
    const msg = JSON.parse(String(data)) as { requestId: string }
    waiting.get(msg.requestId)?.(msg)
    waiting.delete(msg.requestId)
  })
  let seq = 0
  return {
    send: (body) =>
      new Promise((resolve) => {
        const id = `r${++seq}`
        waiting.set(id, resolve)
        ws.send(JSON.stringify(frame(id, body)))
      }),
    close: () => ws.terminate(),
  }
}

function httpSender(port: number, pathname: string, agent: http.Agent): Send {
  return (body) =>
    new Promise((resolve, reject) => {
      const text = JSON.stringify(body)
      const req = http.request({ host: '127.0.0.1', port, path: pathname, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } }, (res) => {
        let got = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => (got += d))
        res.on('end', () => resolve(JSON.parse(got)))
      })
      req.on('error', reject)
      req.end(text)
    })
}

/** The raw baselines: the same JSON in and out, no supervisor. */
async function rawServers(): Promise<{ wsUrl: string; httpPort: number; close(): Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false })
  await new Promise((resolve) => wss.once('listening', resolve))
  wss.on('connection', (ws) =>
    ws.on('message', (data) => {
      const f = JSON.parse(String(data)) as { requestId: string; body: unknown }
      ws.send(JSON.stringify({ requestId: f.requestId, status: 200, error: null, controller: 'echo/echo', action: 'say', result: f.body }))
    }),
  )
  const server = http.createServer((req, res) => {
    let got = ''
    req.setEncoding('utf8')
    req.on('data', (d: string) => (got += d))
    req.on('end', () => {
      const text = JSON.stringify({ requestId: 'x', status: 200, error: null, controller: 'echo/echo', action: 'say', result: JSON.parse(got) })
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) })
      res.end(text)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    wsUrl: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    httpPort: (server.address() as AddressInfo).port,
    close: async () => {
      for (const c of wss.clients) c.terminate()
      await new Promise((r) => wss.close(r))
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
    },
  }
}

export const wsVsHttp: Bench = {
  name: 'ws-vs-http',
  title: `request round trips/s, ${CONNECTIONS} connections: WebSocket (ws-protocol) vs HTTP keep-alive, each beside a raw server`,
  async run() {
    const root = await mkdtemp(path.join(tmpdir(), 'outrigger-bench-ws-'))
    await mkdir(path.join(root, 'enabled', 'echo'), { recursive: true })
    await writeFile(path.join(root, 'enabled', 'echo', 'manifest.json'), JSON.stringify({ name: 'echo', version: '1.0.0', type: 'core' }))
    await writeFile(path.join(root, 'enabled', 'echo', 'index.js'), 'export default { controllers: { echo: { say: (request) => request.body } } }\n')
    await writeFile(path.join(root, 'package.json'), '{"type":"module"}\n')
    await symlink(WS_PLUGIN, path.join(root, 'enabled', 'ws-protocol'), 'dir')
    const sup = await startSupervisor({
      app: `bench-${path.basename(root)}`,
      pluginsDir: path.join(root, 'enabled'),
      stateDir: path.join(root, 'state'),
      store: 'memory',
      control: false,
      http: { port: 0 },
      config: { logLevel: 'silent', plugins: { 'ws-protocol': { options: { port: 0 } } } },
    })
    const raw = await rawServers()
    const agents = [new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS }), new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS })]
    const closers: Array<() => void> = []
    try {
      const { port: wsPort } = await sup.call<{ port: number }>('ws-protocol.address')
      const httpPort = Number(new URL(sup.httpUrl!).port)
      const many = async (make: () => Promise<{ send: Send; close(): void }>): Promise<Send[]> => {
        const made = await Promise.all(Array.from({ length: CONNECTIONS }, make))
        closers.push(...made.map((m) => () => m.close()))
        return made.map((m) => m.send)
      }
      const sysWs = await many(() => wsSender(`ws://127.0.0.1:${wsPort}`, (requestId, body) => ({ requestId, controller: 'echo/echo', action: 'say', body })))
      const rawWs = await many(() => wsSender(raw.wsUrl, (requestId, body) => ({ requestId, body })))
      const sysHttp = Array.from({ length: CONNECTIONS }, () => httpSender(httpPort, '/_/echo/echo/say', agents[0]!))
      const rawHttp = Array.from({ length: CONNECTIONS }, () => httpSender(raw.httpPort, '/', agents[1]!))
      // Each pairing alternates its two sides round by round, so drift hits both alike.
      const ws = await pairedRounds(WARMUP, ROUNDS, () => rate(sysWs), () => rate(rawWs))
      const hp = await pairedRounds(WARMUP, ROUNDS, () => rate(sysHttp), () => rate(rawHttp))
      const both = await pairedRounds(WARMUP, ROUNDS, () => rate(sysWs), () => rate(sysHttp))
      const [w, wr, h, hr, bw, bh] = [median(ws.sys), median(ws.raw), median(hp.sys), median(hp.raw), median(both.sys), median(both.raw)]
      log(`ws-protocol ${Math.round(w)}/s (raw ws ${Math.round(wr)}/s); HTTP ${Math.round(h)}/s (raw http ${Math.round(hr)}/s); head to head ws ${Math.round(bw)}/s vs http ${Math.round(bh)}/s`)
      const rows: Row[] = [
        { metric: 'WebSocket round trips (ws-protocol → ctx.execute)', unit: 'ops/s', raw: wr, system: w, ratio: w / wr, target: 'report (raw: bare ws echo)', met: null },
        { metric: 'HTTP keep-alive round trips (HTTP face → sup.execute)', unit: 'ops/s', raw: hr, system: h, ratio: h / hr, target: 'report (raw: bare node:http echo)', met: null },
        { metric: 'WebSocket vs HTTP keep-alive, same action', unit: 'ops/s', raw: bh, system: bw, ratio: bw / bh, target: 'report (raw: HTTP)', met: null },
      ]
      return rows
    } finally {
      for (const c of closers) c()
      for (const a of agents) a.destroy()
      await raw.close()
      await sup.stop()
      await rm(root, { recursive: true, force: true })
    }
  },
}
