/**
 * `plugins list|describe` ask the running supervisor (`list` falls back to the folder on disk when
 * none answers); `plugins enable|disable` manage the `plugins/enabled/<name>` →
 * `../available/<name>` symlinks on disk (applied at the next start, or at once with `--now`:
 * the running supervisor starts the plugin, or drains, closes and removes it).
 */
import { lstat, mkdir, readlink, stat, symlink, unlink } from 'node:fs/promises'
import path from 'node:path'
import type { Command } from 'commander'
import { request } from '../control/client.js'
import { isOutriggerError } from '../errors.js'
import { discover, type BrokenVersion } from '../manifest/discovery.js'
import { checkManifest } from '../manifest/load.js'
import type { PluginStatus } from '../supervisor/status-types.js'
import { EXIT, printJson, println, reportError, targetOf, wantsJson } from './context.js'
import { RELOAD_TIMEOUT_MS } from './reload.js'
import { STATUS_HEADERS, STATUS_NUMERIC, statusRows, toneOf } from './status-view.js'
import { renderTable, useColor, type CellInput } from './table.js'

const DEFAULT_ENABLED = 'plugins/enabled'

export function registerPlugins(program: Command): void {
  const plugins = program.command('plugins').description('list, describe, enable and disable plugins')

  plugins
    .command('list')
    .description('every plugin the running supervisor loaded (without one: what the plugins folder holds)')
    .option('--json', 'print the plugins array of the status report')
    .option('--plugins <dir>', 'the enabled plugins folder, listed when no supervisor answers', DEFAULT_ENABLED)
    .action(async (opts: { plugins: string }, cmd: Command) => {
      let list: PluginStatus[]
      try {
        list = (await request(targetOf(cmd), 'plugins.list', {})) as PluginStatus[]
      } catch (err) {
        // --json keeps its contract (the status shape, or exit 3); a person gets what is on disk.
        if (wantsJson(cmd) || !isOutriggerError(err) || err.code !== 'RIG_ERR_CONTROL_UNREACHABLE') throw err
        process.exitCode = reportError(err)
        await listOnDisk(path.resolve(opts.plugins))
        return
      }
      if (wantsJson(cmd)) return printJson(list)
      const rows: CellInput[][] = [['NAME', 'VERSION', 'TYPE', 'DELIVERY', 'STATE', 'RESTARTS', 'HOOKS', 'FUNCTIONS', 'SHADOWED'].map((text) => ({ text, tone: 'head' as const }))]
      for (const p of list) {
        const type = p.type === 'core' ? 'core' : `${p.isolation} x${p.instances.length}`
        rows.push([p.name, p.version, type, p.delivery, { text: p.state, tone: toneOf(p.state) }, p.restarts, p.hooks.length, p.functions.length, shadowedCell(p.shadowed, p.shadowedBroken)])
      }
      for (const line of renderTable(rows, { color: useColor(), rightAlign: new Set([5, 6, 7]) })) println(line)
      for (const p of list) for (const b of p.shadowedBroken ?? []) println(brokenLine(b))
    })

  plugins
    .command('describe <name>')
    .description('everything the running supervisor knows about one plugin')
    .option('--json', "print the plugin's entry of the status report")
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const p = (await request(targetOf(cmd), 'plugins.describe', { name })) as PluginStatus
      if (wantsJson(cmd)) return printJson(p)
      printDescription(p)
    })

  plugins
    .command('enable <name>')
    .description('link ../available/<name> into the enabled folder (applies at the next start, or at once with --now)')
    .option('--plugins <dir>', 'the enabled plugins folder', DEFAULT_ENABLED)
    .option('--now', 'also start it in the running supervisor')
    .action(async (name: string, opts: { plugins: string; now?: boolean }, cmd: Command) => {
      await enable(name, opts.plugins, !opts.now)
      // Already linked by hand before the start, or not: the supervisor says if it already runs it.
      if (!opts.now) return
      await request(targetOf(cmd), 'plugins.start', { name }, RELOAD_TIMEOUT_MS)
      println(`started ${name} in the running supervisor`)
    })

  plugins
    .command('disable <name>')
    .description('remove the enabled link of a plugin (applies at the next start, or at once with --now)')
    .option('--plugins <dir>', 'the enabled plugins folder', DEFAULT_ENABLED)
    .option('--now', 'also stop it in the running supervisor: drain, close, remove')
    .action(async (name: string, opts: { plugins: string; now?: boolean }, cmd: Command) => {
      await disable(name, opts.plugins, !opts.now)
      if (!opts.now) return
      await request(targetOf(cmd), 'plugins.stop', { name }, RELOAD_TIMEOUT_MS)
      println(`stopped ${name} in the running supervisor (drained, closed, removed)`)
    })
}

/** The plugins folder as the next start would load it, from the manifests alone. */
async function listOnDisk(dir: string): Promise<void> {
  const { plugins, warnings } = await discover(dir)
  println(`not running; ${dir} holds:`)
  const rows: CellInput[][] = [['NAME', 'VERSION', 'TYPE', 'DELIVERY', 'STATE', 'SHADOWED'].map((text) => ({ text, tone: 'head' as const }))]
  for (const d of plugins) {
    const m = d.manifest
    if (!m) {
      rows.push([d.name, '-', '-', '-', { text: 'invalid', tone: 'bad' }, shadowedCell(d.shadowed, d.broken)])
      continue
    }
    // The manifest's worker settings: the host config's overrides apply only in a running supervisor.
    const w = m.type === 'worker' ? m.worker : undefined
    rows.push([m.name, m.version, w ? `${w.isolation} x${w.instances}` : 'core', w ? w.delivery : '-', 'not running', shadowedCell(d.shadowed, d.broken)])
  }
  for (const line of renderTable(rows, { color: useColor() })) println(line)
  for (const d of plugins) if (d.error) println(`${d.name}: ${d.error.message}`)
  for (const d of plugins) for (const b of d.broken ?? []) println(brokenLine(b))
  for (const w of warnings) println(`warning: ${w}`)
}

function printDescription(p: PluginStatus & { folder?: { path: string; outside: boolean } | null }): void {
  const color = useColor()
  const folder: CellInput = !p.folder
    ? '-'
    : p.folder.outside
      ? { text: `${p.folder.path} (from outside: not under the plugins folder or ../available)`, tone: 'warn' }
      : p.folder.path
  const facts: CellInput[][] = [
    ['name', { text: p.name, tone: 'head' }],
    ['folder', folder],
    ['version', p.version],
    ['type', p.type === 'core' ? 'core (inline)' : `worker (${p.isolation}, ${p.delivery})`],
    ['state', { text: p.state, tone: toneOf(p.state) }],
    ['restarts', p.restarts],
    ['last error', p.lastError ? `${p.lastError.code ?? ''} ${p.lastError.message}`.trim() : '-'],
    ['hooks', p.hooks.join(', ') || '-'],
    ['pipes', p.pipes.join(', ') || '-'],
    ['controllers', p.controllers.join(', ') || '-'],
    ['functions', p.functions.join(', ') || '-'],
    ['shadowed', shadowedCell(p.shadowed, p.shadowedBroken)],
    ...(p.shadowedBroken ?? []).map((b): CellInput[] => ['', { text: brokenLine(b), tone: 'bad' }]),
    ['queue', `${p.queue.depth}/${p.queue.max} dropped ${p.queue.dropped} rejected ${p.queue.rejected}`],
    ['events', Object.entries(p.events).map(([k, v]) => `${k} ${v}`).join(' ')],
    ['handler', `p50 ${p.handlerMs.p50.toFixed(1)}ms p99 ${p.handlerMs.p99.toFixed(1)}ms`],
    // A confined process worker: the Node flags its children run under (docs/permissions.md).
    ['permissions', p.permissions ? p.permissions.flags.join(' ') : p.isolation === 'process' ? 'unconfined' : '-'],
  ]
  for (const line of renderTable(facts, { color })) println(line)
  const head = STATUS_HEADERS.map((text) => ({ text, tone: 'head' as const }))
  const rows = statusRows({ plugins: [p] } as never).map((r) => r.cells)
  println()
  for (const line of renderTable([head, ...rows], { color, rightAlign: STATUS_NUMERIC })) println(line)
}

/** The other version folders; a broken one is marked, since it is not running although it may be newer. */
function shadowedCell(shadowed: string[], broken: BrokenVersion[] = []): CellInput {
  if (!shadowed.length) return '-'
  const marks = new Map(broken.map((b) => [b.folder, b.newer ? ' (broken, newer)' : ' (broken)']))
  return { text: shadowed.map((f) => f + (marks.get(f) ?? '')).join(', '), tone: broken.length ? 'bad' : undefined }
}

function brokenLine(b: BrokenVersion): string {
  return `${b.folder}: broken${b.newer ? ' (newer than the running version)' : ''}: ${b.error.code} ${b.error.message}`
}

async function enable(name: string, enabledDir: string, later: boolean): Promise<void> {
  const enabled = path.resolve(enabledDir)
  const target = path.join('..', 'available', name)
  const source = path.resolve(enabled, target)
  const found = await stat(source).catch(() => null)
  if (!found?.isDirectory()) {
    throw new Error(`cannot enable "${name}": ${source} is not a plugin folder (put the plugin in ${path.dirname(source)} first)`)
  }
  const { problems } = await checkManifest(source)
  for (const p of problems) process.stderr.write(`warning: ${name}: ${p}\n`)
  const link = path.join(enabled, name)
  const existing = await lstat(link).catch(() => null)
  if (existing) {
    if (existing.isSymbolicLink() && (await readlink(link)) === target) {
      println(`${name} is already enabled (${link} → ${target})`)
      return
    }
    throw new Error(`cannot enable "${name}": ${link} already exists and is not a link to ${target}; remove it first`)
  }
  // A new project has plugins/available but no plugins/enabled yet: the first enable makes it.
  await mkdir(enabled, { recursive: true })
  await symlink(target, link, 'dir')
  println(`enabled ${name} (${link} → ${target})${later ? '; restart the supervisor to load it, or pass --now' : ''}`)
}

async function disable(name: string, enabledDir: string, later: boolean): Promise<void> {
  const link = path.join(path.resolve(enabledDir), name)
  const st = await lstat(link).catch(() => null)
  if (!st) {
    println(`${name} is not enabled (no ${link})`)
    // With --now the running supervisor still decides (it may have loaded it before the link went).
    if (later) process.exitCode = EXIT.failure
    return
  }
  if (!st.isSymbolicLink()) {
    throw new Error(`cannot disable "${name}": ${link} is a real folder, not a link; move it to ../available and enable it from there`)
  }
  await unlink(link)
  println(`disabled ${name} (removed ${link})${later ? '; restart the supervisor to unload it, or pass --now' : ''}`)
}
