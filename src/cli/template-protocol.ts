/**
 * `outrigger new <name> --kind protocol`: a core plugin that serves a port of its own (WebSocket,
 * with the `ws` package) and runs every request it reads through `ctx.execute`, the request path
 * of HTTP. docs/examples/ws-echo/ is this template's output, and docs/plugins.md shows it.
 */
import type { TemplateInput } from './templates.js'

/** The `ws` version Outrigger itself depends on, so both resolve to one copy. */
const WS_VERSION = '8.21.0'

export function protocolManifestJson(t: TemplateInput): string {
  const m = { name: t.name, version: '0.1.0', type: 'core', main: 'index.js', description: `The ${t.name} protocol entry point: JSON requests over WebSocket` }
  return JSON.stringify(m, null, 2) + '\n'
}

export function protocolPackageJson(t: TemplateInput): string {
  const pkg = { name: `outrigger-plugin-${t.name}`, version: '0.1.0', private: true, type: 'module', scripts: { test: 'node --test' }, dependencies: { ws: WS_VERSION } }
  return JSON.stringify(pkg, null, 2) + '\n'
}

export function protocolIndexJs(t: TemplateInput): string {
  return `// ${t.name}: an Outrigger protocol plugin. A core plugin that listens on a port of its own and
// runs each request it reads through ctx.execute: the path of an HTTP action (the auth and
// permission slots, the pipes, the action, the hooks), answered with the same envelope.
import { WebSocketServer } from 'ws'

/** @type {WebSocketServer | undefined} */
let server

/** @type {import('outrigger').PluginDefinition<{ port?: number } | undefined>} */
export default {
  async init(ctx) {
    const wss = new WebSocketServer({
      host: '127.0.0.1',
      port: ctx.options?.port ?? 7413,
      maxPayload: 1024 * 1024,
      // A browser cannot set an Authorization header: it offers new WebSocket(url, ['bearer', token]).
      // Answer 'bearer' (never the token), or the browser fails the handshake.
      handleProtocols: (offered) => (offered.has('bearer') ? 'bearer' : false),
    })
    await new Promise((resolve, reject) => wss.once('listening', resolve).once('error', reject))
    wss.on('connection', (ws, req) => {
      // Who connected is who asks: the auth slot sees the upgrade request's headers and address,
      // with a subprotocol token as the Authorization header an HTTP caller sends.
      const [scheme, token] = String(req.headers['sec-websocket-protocol'] ?? '').split(/, */)
      const headers = scheme === 'bearer' && token ? { ...req.headers, 'sec-websocket-protocol': 'bearer', authorization: \`Bearer \${token}\` } : req.headers
      const credentials = { headers, remoteAddress: req.socket.remoteAddress }
      // ws closes a bad connection itself (1009 for a frame over maxPayload); just do not throw.
      ws.on('error', () => {})
      ws.on('message', async (data) => {
        let request
        try {
          request = JSON.parse(String(data))
        } catch {
          return ws.close(1003, 'send JSON text frames')
        }
        // { requestId, controller: '<plugin>/<controller>', action, body } → the envelope
        const envelope = await ctx.execute({ ...request, credentials })
        ws.send(JSON.stringify(envelope))
      })
    })
    server = wss
  },

  async close() {
    for (const ws of server?.clients ?? []) ws.terminate()
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)))
  },

  controllers: {
    // Try it: { "controller": "${t.name}/echo", "action": "say", "body": { "text": "hi" } }
    echo: {
      say: (request) => ({ said: request.body }),
    },
  },

  functions: {
    // Where it listens, for tools and tests that start it on port 0.
    port: () => {
      const address = server?.address()
      return typeof address === 'object' && address ? address.port : undefined
    },
  },
}
`
}

export function protocolTestJs(t: TemplateInput): string {
  return `// Runs the plugin's action on its own: \`npm test\`. The host's test suite runs the socket.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import plugin from '../index.js'

test('echo.say answers what it was sent', () => {
  assert.deepEqual(plugin.controllers.echo.say({ body: { text: 'hi' } }), { said: { text: 'hi' } })
})
`
}
