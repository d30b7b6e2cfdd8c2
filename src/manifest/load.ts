import { readFile, realpath } from 'node:fs/promises'
import path from 'node:path'
import semver from 'semver'
import type { z } from 'zod'
import { OutriggerError } from '../errors.js'
import { VERSION } from '../version.js'
import { describeIssues } from './issues.js'
import { ManifestSchema, WorkerSchema, type Manifest, type WorkerSettings } from './schema.js'

export { describeIssues }

export interface ManifestProblem {
  file: string
  problems: string[]
}

/** What a manifest that failed says about its plugin's kind, where that much is readable. */
export interface DeclaredKind {
  type: 'core' | 'worker'
  isolation?: 'thread' | 'process'
}

function declaredKind(raw: Record<string, unknown>): DeclaredKind | undefined {
  if (raw.type !== 'core' && raw.type !== 'worker') return undefined
  const isolation = (raw.worker as { isolation?: unknown } | null | undefined)?.isolation
  return { type: raw.type, ...(isolation === 'thread' || isolation === 'process' ? { isolation } : {}) }
}

/**
 * Reads and validates `<dir>/manifest.json`. Returns every problem, not just the first (so
 * `outrigger validate` can print them all); `loadManifest` throws them as one error. A manifest
 * that fails still tells its plugin's kind (`declared`) when its `type` is readable.
 */
export async function checkManifest(dir: string, folderName = path.basename(dir)): Promise<{ manifest?: Manifest; problems: string[]; file: string; declared?: DeclaredKind }> {
  const file = path.join(dir, 'manifest.json')
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    return { file, problems: [e.code === 'ENOENT' ? 'manifest.json is missing: every plugin folder needs one' : `cannot read: ${e.message}`] }
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (err) {
    return { file, problems: [`not valid JSON: ${(err as Error).message}`] }
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return { file, problems: [`(root): expected a JSON object (found ${Array.isArray(raw) ? 'an array' : JSON.stringify(raw)})`] }
  }
  const declared = declaredKind(raw as Record<string, unknown>)
  const parsed = ManifestSchema.safeParse(raw)
  if (!parsed.success) return { file, problems: describeIssues(parsed.error, raw), declared }
  const manifest = parsed.data
  const problems: string[] = []
  const expected = folderName.split('@')[0]
  if (manifest.name !== expected) {
    problems.push(`name: must equal the folder name without "@version" (expected "${expected}", found "${manifest.name}")`)
  }
  const main = path.resolve(dir, manifest.main)
  if (!inside(dir, main)) {
    problems.push(`main: must resolve inside the plugin folder (found "${manifest.main}")`)
  } else {
    const escape = await escapesThroughLink(dir, main)
    if (escape) problems.push(`main: "${manifest.main}" ${escape}; put the entry module itself in the plugin folder`)
  }
  return problems.length ? { file, problems, declared } : { file, manifest, problems }
}

/** Whether `p` is strictly inside `dir` (both absolute). */
function inside(dir: string, p: string): boolean {
  const rel = path.relative(dir, p)
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel)
}

/**
 * The entry is confined by its real path: a `main` that is (or goes through) a symlink to a file
 * outside the plugin folder would otherwise run foreign code in the host. Returns why it escapes,
 * or nothing. A missing entry is not this check's business (loading reports it).
 */
async function escapesThroughLink(dir: string, main: string): Promise<string | undefined> {
  let real: string
  try {
    real = await realpath(main)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ELOOP') return 'is a symlink loop'
    return undefined
  }
  const realDir = await realpath(dir)
  return inside(realDir, real) ? undefined : `resolves through a symlink to ${real}, outside the plugin folder ${realDir}`
}

export async function loadManifest(dir: string, folderName?: string): Promise<Manifest> {
  const { manifest, problems, file } = await checkManifest(dir, folderName)
  if (!manifest) {
    throw new OutriggerError('RIG_ERR_MANIFEST_INVALID', `${file}: ${problems.join('; ')}`, { details: { file, problems } })
  }
  return manifest
}

/** Refuses a plugin whose `engine` range excludes this Outrigger. */
export function checkEngine(manifest: Manifest, file: string, version = VERSION): void {
  if (manifest.engine && !semver.satisfies(version, manifest.engine, { includePrerelease: true })) {
    throw new OutriggerError(
      'RIG_ERR_ENGINE_MISMATCH',
      `${file}: engine: plugin "${manifest.name}" needs Outrigger ${manifest.engine}, this is ${version}; upgrade Outrigger or use a matching plugin version`,
      { details: { file, engine: manifest.engine, version } },
    )
  }
}

/** Applies the operator's `worker` overrides from the host config onto the manifest's settings. */
export function mergeWorker(base: WorkerSettings, override: unknown, where: string): WorkerSettings {
  if (override === undefined) return base
  const merged = deepMerge(base, override)
  const parsed = WorkerSchema.safeParse(merged)
  if (!parsed.success) {
    throw new OutriggerError('RIG_ERR_CONFIG_INVALID', `${where}: ${describeIssues(parsed.error, merged).join('; ')}`)
  }
  return parsed.data
}

function deepMerge(a: unknown, b: unknown): unknown {
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const out: Record<string, unknown> = { ...(a as Record<string, unknown>) }
    for (const [k, v] of Object.entries(b as Record<string, unknown>)) out[k] = deepMerge(out[k], v)
    return out
  }
  return b === undefined ? a : b
}
