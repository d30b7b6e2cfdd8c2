import type { ServerResponse } from 'node:http'
import type { Metrics } from '../metrics/metrics.js'
import type { Supervisor } from '../supervisor/types.js'
import { sendJson } from './envelope.js'
import { listRoutes } from './routes.js'

/** `GET /_health`: 200 while the host can serve (healthy or degraded), 503 when it cannot. */
export function sendHealth(sup: Supervisor, res: ServerResponse): void {
  const s = sup.status()
  const body = { health: s.health, plugins: s.plugins.map((p) => ({ name: p.name, state: p.state })) }
  sendJson(res, s.health === 'unhealthy' ? 503 : 200, body, { 'cache-control': 'no-store' })
}

/** `GET /_status`, or with `?cluster=1` every node of the cluster (503 while its Redis is down, 404 without a cluster). */
export async function sendStatus(sup: Supervisor, res: ServerResponse, cluster: string | null = null): Promise<void> {
  const body = cluster !== null && cluster !== '0' ? await sup.clusterStatus() : sup.status()
  sendJson(res, 200, body, { 'cache-control': 'no-store' })
}

/** `GET /_info`: what is loaded and what it registers, and every route that answers. */
export function sendInfo(sup: Supervisor, res: ServerResponse): void {
  const s = sup.status()
  sendJson(res, 200, {
    app: s.app,
    version: s.version,
    plugins: s.plugins.map((p) => ({
      name: p.name,
      version: p.version,
      type: p.type,
      isolation: p.isolation,
      state: p.state,
      hooks: p.hooks,
      pipes: p.pipes,
      controllers: p.controllers,
      functions: p.functions,
      shadowed: p.shadowed,
      shadowedBroken: p.shadowedBroken ?? [],
    })),
    routes: listRoutes(sup.routes()),
  })
}

export async function sendMetrics(metrics: Metrics, res: ServerResponse): Promise<void> {
  const text = await metrics.render()
  if (res.headersSent || res.writableEnded) return
  res.writeHead(200, { 'content-type': metrics.contentType, 'content-length': String(Buffer.byteLength(text)), 'cache-control': 'no-store' })
  res.end(text)
}
