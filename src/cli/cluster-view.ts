/** `status --cluster` as text: the link, one row per node, one row per cluster plugin. */
import type { ClusterReport } from '../cluster/report-types.js'
import { renderTable, type CellInput } from './table.js'

export function renderCluster(r: ClusterReport, color: boolean): string[] {
  const link = r.link.connected ? { text: 'connected', tone: 'ok' as const } : { text: `down, retry in ${r.link.retryInMs} ms`, tone: 'bad' as const }
  const lines = renderTable([[`cluster ${r.cluster}`, r.redis, `node ${r.node}`, link, { text: r.health, tone: r.health === 'healthy' ? 'ok' : 'warn' }, `log head ${r.log.head}`]], { color })
  const pendingOf = (node: string) => r.plugins.reduce((n, p) => n + (p.consumers.find((c) => c.node === node)?.pending ?? 0), 0)
  const nodes: CellInput[][] = [[h('NODE'), h('HOST'), h('PID'), h('PLUGINS'), h('INSTANCES'), h('PENDING'), h('LAST BEAT'), h('LOG SEQ')]]
  for (const n of r.nodes) {
    nodes.push([
      n.id,
      n.host,
      n.pid,
      n.plugins.map((p) => p.name).join(',') || '-',
      n.plugins.reduce((s, p) => s + p.instances, 0),
      pendingOf(n.id),
      { text: `${(n.lastBeatMs / 1000).toFixed(1)} s ago${n.missing ? ' MISSING' : ''}`, tone: n.missing ? 'bad' : 'ok' },
      n.logSeq ?? '-',
    ])
  }
  lines.push('', ...renderTable(nodes, { color, rightAlign: new Set([2, 4, 5, 7]) }))
  const plugins: CellInput[][] = [[h('PLUGIN'), h('STREAMS'), h('LENGTH'), h('LAG'), h('PENDING'), h('DEAD'), h('TRIMMED'), h('PENDING BY CONSUMER')]]
  for (const p of r.plugins) plugins.push([p.name, p.streams, p.length, p.lag, p.pending, dead(p), trimmed(p), p.consumers.map((c) => `${c.node}=${c.pending}`).join(' ') || '-'])
  lines.push('', ...renderTable(plugins, { color, rightAlign: new Set([1, 2, 3, 4, 5, 6]) }))
  const outbox = r.local.filter((l) => l.outbox > 0)
  for (const l of outbox) lines.push(`${l.plugin}: ${l.outbox} event(s) wait in this node's outbox for Redis`)
  return lines
}

type PluginRow = ClusterReport['plugins'][number]

/** Dead letters kept, and those dropped beyond the bound when there are any. */
function dead(p: PluginRow): string | number {
  return p.deadDropped ? `${p.deadLetters} (+${p.deadDropped} dropped)` : p.deadLetters
}

/** Entries trimmed in total, and when the last pass ran. */
function trimmed(p: PluginRow): string | number {
  return p.lastTrim ? `${p.trimmed} (${(p.lastTrim.agoMs / 1000).toFixed(1)} s ago)` : p.trimmed
}

function h(text: string): CellInput {
  return { text, tone: 'head' }
}
