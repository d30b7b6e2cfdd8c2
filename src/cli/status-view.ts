/** The human form of the status report: a header line and one table row per plugin and instance. */
import type { PluginStatus, StatusReport } from '../supervisor/status-types.js'
import { formatDuration } from './context.js'
import type { Cell, Tone } from './table.js'

export const STATUS_HEADERS = ['PLUGIN', 'TYPE', 'STATE', 'RESTARTS', 'QUEUE', 'RECV', 'PROC', 'FAIL', 'DROP', 'LOST', 'RECOV', 'P99', 'MEM', 'LOOP P99']
/** Columns holding numbers, right-aligned. */
export const STATUS_NUMERIC = new Set([3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13])

export interface Row {
  /** Stable across frames (plugin name, instance id), so `top` can compare cells. */
  key: string
  cells: Cell[]
}

export function toneOf(state: string): Tone | undefined {
  if (state === 'running' || state === 'healthy') return 'ok'
  if (state === 'quarantined' || state === 'failed' || state === 'unhealthy' || state === 'unresponsive') return 'bad'
  if (state === 'stopped') return 'dim'
  return 'warn'
}

export const ms = (v: number): string => (v >= 100 ? `${Math.round(v)}ms` : `${v.toFixed(1)}ms`)
export const mb = (v: number): string => `${Math.round(v)}MB`

export function headerLine(s: StatusReport): Cell[] {
  return [
    { text: `${s.app}`, tone: 'head' },
    { text: `v${s.version} pid ${s.pid} up ${formatDuration(s.uptimeMs)}` },
    { text: s.state, tone: toneOf(s.state) },
    { text: s.health, tone: toneOf(s.health) },
    { text: `loop p99 ${ms(s.eventLoop.p99Ms)} util ${Math.round(s.eventLoop.utilization * 100)}%` },
    { text: `rss ${mb(s.memory.rssMb)} heap ${mb(s.memory.heapUsedMb)}` },
  ]
}

export function statusRows(s: StatusReport): Row[] {
  const rows: Row[] = []
  for (const p of s.plugins) {
    rows.push({ key: `p:${p.name}`, cells: pluginCells(p) })
    for (const i of p.instances) {
      rows.push({
        key: `i:${p.name}:${i.id}`,
        cells: [
          { text: `  #${i.id} ${i.threadId ? `thread ${i.threadId}` : `pid ${i.pid}`}`, tone: 'dim' },
          { text: `up ${formatDuration(i.uptimeMs)}`, tone: 'dim' },
          { text: i.state, tone: toneOf(i.state) },
          { text: String(i.restarts) },
          ...['', '', '', '', '', '', '', ''].map((text) => ({ text })),
          { text: mb(i.memoryMb) },
          { text: ms(i.eventLoopP99Ms) },
        ],
      })
    }
  }
  return rows
}

function pluginCells(p: PluginStatus): Cell[] {
  const worker = p.type === 'worker'
  const mem = p.instances.reduce((a, i) => a + i.memoryMb, 0)
  const loop = p.instances.reduce((a, i) => Math.max(a, i.eventLoopP99Ms), 0)
  const num = (v: number, bad = false): Cell => ({ text: String(v), tone: bad && v > 0 ? 'bad' : undefined })
  return [
    { text: `${p.name}@${p.version}` },
    { text: worker ? `${p.isolation} x${p.instances.length}` : 'core' },
    { text: p.state, tone: toneOf(p.state) },
    num(p.restarts, true),
    { text: worker ? `${p.queue.depth}/${p.queue.max}` : '-' },
    num(p.events.received),
    num(p.events.processed),
    num(p.events.failed, true),
    num(p.queue.dropped + p.queue.rejected, true),
    num(p.events.lost, true),
    // Durable events an earlier run left, read back in this one.
    { text: p.delivery === 'durable' ? String(p.events.recovered) : '-' },
    { text: ms(p.handlerMs.p99) },
    { text: worker ? mb(mem) : '-' },
    { text: worker ? ms(loop) : '-' },
  ]
}
