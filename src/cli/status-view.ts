/** The human form of the status report: a header line and one table row per plugin and instance. */
import type { PluginStatus, StatusReport } from '../supervisor/status-types.js'
import { formatDuration } from './context.js'
import { renderTable, type Cell, type CellInput, type Tone } from './table.js'

interface Column {
  head: string
  /** The header when the terminal is too narrow for the full one. */
  short?: string
  /** Numbers, right-aligned. */
  numeric?: boolean
}

const COLUMNS: Column[] = [
  { head: 'PLUGIN' },
  { head: 'TYPE' },
  { head: 'STATE' },
  { head: 'RESTARTS', short: 'RST', numeric: true },
  { head: 'QUEUE', numeric: true },
  { head: 'RECV', numeric: true },
  { head: 'PROC', numeric: true },
  { head: 'FAIL', numeric: true },
  { head: 'DROP', numeric: true },
  { head: 'LOST', numeric: true },
  { head: 'DEAD', numeric: true },
  // Durable plugins: events an earlier run left in the journal, read back in this one.
  { head: 'RECOV', numeric: true },
  { head: 'P99', numeric: true },
  { head: 'MEM', numeric: true },
  { head: 'LOOP P99', short: 'LOOP', numeric: true },
]

export const STATUS_HEADERS = COLUMNS.map((c) => c.head)
/** Columns holding numbers, right-aligned. */
export const STATUS_NUMERIC = new Set(COLUMNS.flatMap((c, i) => (c.numeric ? [i] : [])))

/**
 * When the table is wider than the terminal, these columns go first, in this order: the
 * instance rows repeat the type, and the books (RECV … DEAD) stay as long as they can.
 */
const DROP_ORDER = ['TYPE', 'LOOP P99', 'MEM', 'RECOV', 'P99', 'QUEUE', 'RESTARTS', 'LOST', 'DROP', 'DEAD', 'FAIL', 'PROC', 'RECV', 'STATE']
/** Header-line cells dropped first: memory, then version/pid/uptime, then the loop. */
const HEADER_DROP_ORDER = [5, 1, 4]

/**
 * The status table (header row included) within `width` columns: the full table when it fits,
 * else short headers and single gaps, else without the columns of {@link DROP_ORDER} one by one;
 * what still does not fit is cut at the edge rather than wrapped. No width: the full table.
 */
export function renderStatusTable(body: Cell[][], opts: { color: boolean; width?: number }): string[] {
  const render = (color: boolean, short: boolean, gap: number, dropped: ReadonlySet<number>): string[] => {
    const keep = COLUMNS.map((_, i) => i).filter((i) => !dropped.has(i))
    const head: CellInput[] = keep.map((i) => ({ text: (short && COLUMNS[i].short) || COLUMNS[i].head, tone: 'head' }))
    const rows = [head, ...body.map((r) => keep.map((i) => r[i] ?? { text: '' }))]
    const rightAlign = new Set(keep.flatMap((c, j) => (COLUMNS[c].numeric ? [j] : [])))
    return renderTable(rows, { color, rightAlign, gap })
  }
  const width = opts.width
  if (!width) return render(opts.color, false, 2, new Set())
  const fits = (lines: string[]): boolean => lines.every((l) => l.length <= width)
  const dropped = new Set<number>()
  const attempts: Array<[short: boolean, gap: number]> = [
    [false, 2],
    [true, 2],
    [true, 1],
  ]
  for (const [short, gap] of attempts) if (fits(render(false, short, gap, dropped))) return render(opts.color, short, gap, dropped)
  for (const name of DROP_ORDER) {
    dropped.add(STATUS_HEADERS.indexOf(name))
    if (fits(render(false, true, 1, dropped))) return render(opts.color, true, 1, dropped)
  }
  return render(false, true, 1, dropped).map((l) => l.slice(0, width))
}

/** The header line within `width` columns, dropping its least telling cells first. */
export function renderHeaderLine(s: StatusReport, opts: { color: boolean; width?: number }): string {
  const cells = headerLine(s)
  const render = (color: boolean, dropped: ReadonlySet<number>): string => renderTable([cells.filter((_, i) => !dropped.has(i))], { color })[0]
  const width = opts.width
  if (!width) return render(opts.color, new Set())
  const dropped = new Set<number>()
  for (const i of [undefined, ...HEADER_DROP_ORDER]) {
    if (i !== undefined) dropped.add(i)
    if (render(false, dropped).length <= width) return render(opts.color, dropped)
  }
  return render(false, dropped).slice(0, width)
}

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
    ...(s.log ? [{ text: `log head ${s.log.head}` }] : []),
  ]
}

/** An instance's place in the coordination log: the seq it applied, and how far behind the head. */
function appliedText(s: StatusReport, applied: number | undefined): string {
  if (applied === undefined || !s.log) return ''
  return applied >= s.log.committed ? ` log ${applied}` : ` log ${applied} (${s.log.committed - applied} behind)`
}

export function statusRows(s: StatusReport): Row[] {
  const rows: Row[] = []
  for (const p of s.plugins) {
    rows.push({ key: `p:${p.name}`, cells: pluginCells(p) })
    for (const i of p.instances) {
      rows.push({
        key: `i:${p.name}:${i.id}`,
        cells: [
          { text: `  #${i.id} ${i.threadId ? `thread ${i.threadId}` : `pid ${i.pid}`}${appliedText(s, i.appliedSeq)}`, tone: 'dim' },
          { text: `up ${formatDuration(i.uptimeMs)}`, tone: 'dim' },
          { text: i.state, tone: toneOf(i.state) },
          { text: String(i.restarts) },
          ...['', '', '', '', '', '', '', '', ''].map((text) => ({ text })),
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
    num(p.events.deadLettered, true),
    { text: p.delivery === 'durable' ? String(p.events.recovered) : '-' },
    { text: ms(p.handlerMs.p99) },
    { text: worker ? mb(mem) : '-' },
    { text: worker ? ms(loop) : '-' },
  ]
}
