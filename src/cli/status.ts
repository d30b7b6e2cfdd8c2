/** `status` and `health`: one request to the running supervisor, printed as JSON or a table. */
import type { Command } from 'commander'
import { request } from '../control/client.js'
import type { Health, StatusReport } from '../supervisor/status-types.js'
import { EXIT, printJson, println, targetOf, wantsJson } from './context.js'
import { renderHeaderLine, renderStatusTable, statusRows, toneOf } from './status-view.js'
import { renderTable, useColor } from './table.js'
import { renderCluster } from './cluster-view.js'
import type { ClusterReport } from '../cluster/report-types.js'
import type { clusterHealth } from '../control/cluster-health.js'

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('show the supervisor, every plugin and every worker instance')
    .option('--json', 'print the status report as JSON')
    .option('--cluster', 'show every node of the cluster instead: id, host, plugins, instances, stream lag, pending per consumer, last beat')
    .action(async (opts: { cluster?: boolean }, cmd: Command) => {
      if (opts.cluster) {
        const c = (await request(targetOf(cmd), 'status', { cluster: true })) as ClusterReport
        if (wantsJson(cmd)) return printJson(c)
        for (const line of renderCluster(c, useColor())) println(line)
        return
      }
      const report = (await request(targetOf(cmd), 'status', {})) as StatusReport
      if (wantsJson(cmd)) return printJson(report)
      // In a terminal the table fits its width; piped, it is printed whole.
      for (const line of renderStatus(report, useColor(), process.stdout.isTTY ? process.stdout.columns : undefined)) println(line)
    })

  program
    .command('health')
    .description('exit 0 when healthy, 1 when degraded or unhealthy, 3 when unreachable')
    .option('--json', 'print {health, plugins:[{name,state}]} as JSON')
    .option('--cluster', 'the cluster instead: exit 1 when any node is missing its beat')
    .action(async (opts: { cluster?: boolean }, cmd: Command) => {
      if (opts.cluster) {
        const c = (await request(targetOf(cmd), 'health', { cluster: true })) as ReturnType<typeof clusterHealth>
        if (wantsJson(cmd)) printJson(c)
        else {
          println(`cluster ${c.cluster}: ${c.health}`)
          for (const n of c.nodes) println(`  ${n.id}  ${n.missing ? 'MISSING' : 'ok'}  last beat ${(n.lastBeatMs / 1000).toFixed(1)} s ago`)
        }
        process.exitCode = c.health === 'healthy' ? EXIT.ok : EXIT.failure
        return
      }
      const h = (await request(targetOf(cmd), 'health', {})) as { health: Health; plugins: { name: string; state: string }[] }
      if (wantsJson(cmd)) printJson(h)
      else {
        const color = useColor()
        println(`${targetOf(cmd).app}: ${renderTable([[{ text: h.health, tone: toneOf(h.health) }]], { color })[0]}`)
        for (const line of renderTable(h.plugins.map((p) => [`  ${p.name}`, { text: p.state, tone: toneOf(p.state) }]), { color })) println(line)
      }
      process.exitCode = h.health === 'healthy' ? EXIT.ok : EXIT.failure
    })
}

/** The whole human status: header, table, then the last error of each plugin that has one. */
export function renderStatus(report: StatusReport, color: boolean, width?: number): string[] {
  const lines = [renderHeaderLine(report, { color, width })]
  lines.push('', ...renderStatusTable(statusRows(report).map((r) => r.cells), { color, width }))
  const errors = report.plugins.filter((p) => p.lastError)
  if (errors.length) lines.push('')
  for (const p of errors) lines.push(`${p.name}: ${p.lastError?.code ? `${p.lastError.code}: ` : ''}${p.lastError?.message}`)
  return lines
}
