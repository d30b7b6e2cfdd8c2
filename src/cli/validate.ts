/**
 * `validate <dir>`: every problem of a plugin folder (manifest, entry file, what the entry
 * exports), or of each plugin folder inside a plugins folder. Exit 1 when there is any.
 */
import { readdir, stat } from 'node:fs/promises'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Command } from 'commander'
import { checkManifest } from '../manifest/load.js'
import type { Manifest } from '../manifest/schema.js'
import { EXIT, printJson, println, wantsJson } from './context.js'
import { paint, useColor } from './table.js'

const KNOWN_KEYS = new Set(['hooks', 'pipes', 'controllers', 'functions', 'init', 'whenReady', 'close', 'options', 'provides'])

export interface Validation {
  dir: string
  ok: boolean
  problems: string[]
}

export function registerValidate(program: Command): void {
  program
    .command('validate <dir>')
    .description('check a plugin folder (or every plugin in a plugins folder) and print every problem')
    .option('--json', 'print [{dir, ok, problems}] as JSON')
    .action(async (dir: string, _opts: unknown, cmd: Command) => {
      const results = await validateAll(path.resolve(dir))
      if (wantsJson(cmd)) printJson(results)
      else {
        const color = useColor()
        for (const r of results) {
          println(`${r.dir}: ${r.ok ? paint('ok', 'ok', color) : paint(`${r.problems.length} problem(s)`, 'bad', color)}`)
          for (const p of r.problems) println(`  - ${p}`)
        }
      }
      process.exitCode = results.every((r) => r.ok) ? EXIT.ok : EXIT.failure
    })
}

/** A folder with a manifest is one plugin; a folder without one is treated as a plugins folder. */
async function validateAll(dir: string): Promise<Validation[]> {
  const st = await stat(dir).catch(() => null)
  if (!st?.isDirectory()) return [{ dir, ok: false, problems: ['not a folder'] }]
  if (await stat(path.join(dir, 'manifest.json')).catch(() => null)) return [await validatePlugin(dir)]
  const entries = await readdir(dir, { withFileTypes: true })
  const subdirs = entries.filter((e) => e.isDirectory() || e.isSymbolicLink()).map((e) => path.join(dir, e.name))
  if (subdirs.length === 0) return [{ dir, ok: false, problems: ['manifest.json is missing: every plugin folder needs one'] }]
  return Promise.all(subdirs.map(validatePlugin))
}

export async function validatePlugin(dir: string): Promise<Validation> {
  const { manifest, problems } = await checkManifest(dir)
  if (manifest) problems.push(...(await checkEntry(dir, manifest)))
  return { dir, ok: problems.length === 0, problems }
}

/** The entry must exist, import, and default-export a plugin definition that fits the type. */
async function checkEntry(dir: string, manifest: Manifest): Promise<string[]> {
  const file = path.resolve(dir, manifest.main)
  const st = await stat(file).catch(() => null)
  if (!st?.isFile()) return [`main: entry file ${manifest.main} does not exist`]
  let mod: { default?: unknown }
  try {
    mod = (await import(pathToFileURL(file).href)) as { default?: unknown }
  } catch (err) {
    return [`main: ${manifest.main} cannot be imported: ${(err as Error).message}`]
  }
  const def = mod.default
  if (!def || typeof def !== 'object') return [`main: ${manifest.main} has no default export of a plugin definition (export default { hooks, functions, … })`]
  const problems: string[] = []
  for (const key of Object.keys(def)) {
    if (!KNOWN_KEYS.has(key)) problems.push(`main: unknown export key "${key}" (known: ${[...KNOWN_KEYS].join(', ')})`)
  }
  if (manifest.type === 'worker') {
    for (const key of ['pipes', 'controllers', 'provides']) {
      if ((def as Record<string, unknown>)[key]) problems.push(`main: a worker plugin cannot define ${key}; only core plugins may`)
    }
  }
  return problems
}
