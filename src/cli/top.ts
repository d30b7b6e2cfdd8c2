/**
 * `top`: the status table redrawn in place about once a second until Ctrl-C, with the cells that
 * changed since the previous frame in inverse video. Outside a terminal it prints plain frames.
 */
import type { Command } from 'commander'
import { ControlClient } from '../control/client.js'
import { errorMessage } from '../errors.js'
import type { StatusReport } from '../supervisor/status-types.js'
import { EXIT, targetOf } from './context.js'
import { renderHeaderLine, renderStatusTable, statusRows } from './status-view.js'
import { useColor, type Cell } from './table.js'

const ESC = '\x1b['

export function registerTop(program: Command): void {
  program
    .command('top')
    .description('live view of every plugin and worker instance (Ctrl-C to quit)')
    .option('--interval <ms>', 'refresh period in milliseconds', (v) => Number.parseInt(v, 10), 1000)
    .action(async (opts: { interval: number }, cmd: Command) => {
      await runTop(targetOf(cmd), Math.max(100, opts.interval || 1000))
    })
}

async function runTop(target: { app?: string }, interval: number): Promise<void> {
  const tty = Boolean(process.stdout.isTTY)
  const color = useColor()
  let client: ControlClient | undefined
  let previous = new Map<string, string>()
  let timer: NodeJS.Timeout | undefined
  let stopped = false

  if (tty) process.stdout.write(`${ESC}?1049h${ESC}?25l`) // alternate screen, hide cursor
  const done = new Promise<void>((resolve) => {
    const quit = (): void => {
      stopped = true
      clearTimeout(timer)
      client?.close()
      if (tty) process.stdout.write(`${ESC}?25h${ESC}?1049l`)
      process.exitCode = EXIT.ok
      resolve()
    }
    process.once('SIGINT', quit)
    process.once('SIGTERM', quit)
    // `outrigger top | head`: the reader has gone, so there is no one left to draw for.
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err
      quit()
    })
  })

  const frame = async (): Promise<void> => {
    let lines: string[]
    try {
      // The supervisor closes a connection left idle for a few seconds (a long --interval).
      if (client && !client.isOpen) client = undefined
      client ??= await ControlClient.connect(target, interval * 3)
      const report = (await client.request('status', {}, interval * 3)) as StatusReport
      // Read every frame, so the table follows the terminal when it is resized.
      const drawn = draw(report, previous, color, tty ? process.stdout.columns : undefined)
      previous = drawn.cells
      lines = drawn.lines
    } catch (err) {
      // Keep going: the supervisor may be restarting under pm2; reconnect on the next tick.
      client?.close()
      client = undefined
      lines = [`outrigger top: ${errorMessage(err)}`, 'retrying…']
    }
    if (stopped) return
    lines.push('', `${new Date().toLocaleTimeString()} · every ${interval}ms · Ctrl-C to quit`.slice(0, tty ? process.stdout.columns || undefined : undefined))
    if (tty) process.stdout.write(`${ESC}H${lines.map((l) => `${l}${ESC}K`).join('\n')}\n${ESC}J`)
    else process.stdout.write(lines.join('\n') + '\n\n')
    timer = setTimeout(() => void frame(), interval)
  }
  await frame()
  await done
}

/** Renders one frame, marking every cell whose text differs from the previous frame's. */
function draw(report: StatusReport, previous: Map<string, string>, color: boolean, width: number | undefined): { lines: string[]; cells: Map<string, string> } {
  const cells = new Map<string, string>()
  const rows: Cell[][] = []
  for (const row of statusRows(report)) {
    rows.push(
      row.cells.map((c, i) => {
        const key = `${row.key}#${i}`
        cells.set(key, c.text)
        const before = previous.get(key)
        return { ...c, changed: before !== undefined && before !== c.text && i > 1 }
      }),
    )
  }
  const lines = [renderHeaderLine(report, { color, width }), '', ...renderStatusTable(rows, { color, width })]
  return { lines, cells }
}
