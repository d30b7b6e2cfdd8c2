import { lstat, readdir, realpath, stat } from 'node:fs/promises'
import path from 'node:path'
import semver from 'semver'
import { OutriggerError, errorMessage } from '../errors.js'
import { checkEngine, checkManifest, type DeclaredKind } from '../manifest/load.js'
import type { Manifest } from '../manifest/schema.js'

/** A plugin folder found in the plugins folder: either a usable manifest or the reason it is not. */
export interface Discovered {
  /** The folder name (`name` or `name@version`); a failed plugin is reported under it. */
  folder: string
  /** The plugin's name: the manifest's, or the folder name without `@version`. */
  name: string
  /** The real path (symlinks resolved). */
  dir: string
  /**
   * The folder (through its symlink) resolves outside both the plugins folder and its sibling
   * `available/`: allowed, but shown as coming from outside (`plugins describe`).
   */
  outside: boolean
  manifest?: Manifest
  error?: OutriggerError
  /** For a plugin that failed: the kind its manifest declares, where readable. */
  declared?: DeclaredKind
  /** Other versions of the same plugin that lost to this one (`name@version` folders). */
  shadowed: string[]
  /** The shadowed folders that are broken, with why: a broken newer version must not hide. */
  broken?: BrokenVersion[]
}

/** A `name@version` folder that failed to load while another version of the plugin runs. */
export interface BrokenVersion {
  folder: string
  /** Its version (from the folder name or its manifest) is above the running one, or unknown. */
  newer: boolean
  error: { code: string; message: string }
}

export interface DiscoveryResult {
  plugins: Discovered[]
  /** Problems that do not make a plugin: dead symlinks, stray files. */
  warnings: string[]
}

/**
 * Scans the plugins folder. Dead symlinks are reported and skipped; among `name@version` folders
 * the highest semver wins (not the highest string: eKuiper's mistake) and the rest are shadowed.
 */
export async function discover(pluginsDir: string): Promise<DiscoveryResult> {
  let names: string[]
  try {
    names = (await readdir(pluginsDir)).sort()
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    throw new OutriggerError(
      'RIG_ERR_PLUGINS_DIR',
      e.code === 'ENOENT'
        ? `plugins folder ${pluginsDir} does not exist; create it (with symlinks into ../available) or pass --plugins`
        : `plugins folder ${pluginsDir} cannot be read: ${e.message}`,
      { cause: err, details: { pluginsDir } },
    )
  }
  const warnings: string[] = []
  const found: Discovered[] = []
  const homes = await pluginHomes(pluginsDir)
  for (const folder of names) {
    if (folder.startsWith('.')) continue
    const full = path.join(pluginsDir, folder)
    let isDir: boolean
    try {
      isDir = (await stat(full)).isDirectory()
    } catch (err) {
      const link = await lstat(full).catch(() => null)
      warnings.push(
        (err as NodeJS.ErrnoException).code === 'ELOOP'
          ? `${full}: symlink loop, skipped (it leads back to itself; run "outrigger plugins disable ${folder}" and link it to a plugin folder)`
          : link?.isSymbolicLink()
            ? `${full}: dead symlink, skipped (its target is gone; run "outrigger plugins disable ${folder}")`
            : `${full}: cannot be read, skipped`,
      )
      continue
    }
    if (!isDir) continue
    const dir = await realpath(full)
    const outside = !homes.some((home) => dir.startsWith(home + path.sep))
    found.push(await inspect(dir, folder, outside))
  }
  return { plugins: pickVersions(found, warnings), warnings }
}

/** The real paths plugin folders are expected under: the plugins folder and `../available`. */
async function pluginHomes(pluginsDir: string): Promise<string[]> {
  const homes = [pluginsDir, path.join(pluginsDir, '..', 'available')]
  const real = await Promise.all(homes.map((h) => realpath(h).catch(() => undefined)))
  return real.filter((h): h is string => h !== undefined)
}

/**
 * Reads one plugin folder's manifest: a usable manifest or why not. Discovery runs it on every
 * folder, and an operator restart on a plugin that failed to load, to read it again after a fix.
 */
export async function inspect(dir: string, folder: string, outside: boolean): Promise<Discovered> {
  const { manifest, problems, file, declared } = await checkManifest(dir, folder)
  const name = folder.split('@')[0]
  if (!manifest) {
    const error = new OutriggerError('RIG_ERR_MANIFEST_INVALID', `${file}: ${problems.join('; ')}`, { details: { file, problems } })
    return { folder, name, dir, outside, error, declared, shadowed: [] }
  }
  try {
    checkEngine(manifest, file)
    return { folder, name: manifest.name, dir, outside, manifest, shadowed: [] }
  } catch (err) {
    const error = err instanceof OutriggerError ? err : new OutriggerError('RIG_ERR_MANIFEST_INVALID', errorMessage(err))
    return { folder, name, dir, outside, error, declared: { type: manifest.type, isolation: manifest.worker?.isolation }, shadowed: [] }
  }
}

function pickVersions(found: Discovered[], warnings: string[]): Discovered[] {
  const byName = new Map<string, Discovered[]>()
  for (const d of found) byName.set(d.name, [...(byName.get(d.name) ?? []), d])
  const out: Discovered[] = []
  for (const group of byName.values()) {
    const valid = group.filter((d) => d.manifest).sort((a, b) => semver.rcompare(a.manifest!.version, b.manifest!.version))
    const broken = group.filter((d) => !d.manifest)
    if (valid.length === 0) {
      out.push(...broken)
      continue
    }
    const [winner, ...losers] = valid
    winner.shadowed = [...losers, ...broken].map((d) => d.folder)
    winner.broken = broken.map((d) => brokenVersion(d, winner))
    for (const b of winner.broken) {
      warnings.push(`${b.folder} is broken and ${winner.folder} (${winner.manifest!.version}) runs instead${b.newer ? ', although the broken one is newer' : ''}: ${b.error.message} (fix or remove ${b.folder}; --strict refuses to start while it is broken)`)
    }
    out.push(winner)
  }
  return out.sort((a, b) => (a.folder < b.folder ? -1 : 1))
}

function brokenVersion(d: Discovered, winner: Discovered): BrokenVersion {
  // A manifest that fails the schema may still say its version; else the folder name does.
  const version = semver.valid(d.folder.split('@')[1] ?? '')
  return {
    folder: d.folder,
    newer: version === null || semver.gt(version, winner.manifest!.version),
    error: { code: d.error?.code ?? 'RIG_ERR_MANIFEST_INVALID', message: d.error?.message ?? 'unknown error' },
  }
}
