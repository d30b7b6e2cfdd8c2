// ws-echo: an Outrigger protocol plugin. A core plugin that listens on a port of its own and
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
      const headers = scheme === 'bearer' && token ? { ...req.headers, 'sec-websocket-protocol': 'bearer', authorization: `Bearer ${token}` } : req.headers
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
    // Try it: { "controller": "ws-echo/echo", "action": "say", "body": { "text": "hi" } }
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
