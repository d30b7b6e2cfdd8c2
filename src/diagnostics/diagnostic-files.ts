/**
 * Where diagnostic files go and how many stay: `<stateDir>/profiles/<plugin>-<instance>-<time>.cpuprofile`
 * and `<stateDir>/heap-snapshots/<plugin>-<instance>-<time>.heapsnapshot`. Host-free (a worker
 * names its own heap snapshot); only `prune` is called on the host.
 */
import { readdir, unlink } from 'node:fs/promises'
import path from 'node:path'

export const PROFILES_DIR = 'profiles'
export const HEAP_SNAPSHOTS_DIR = 'heap-snapshots'
/** CPU profiles kept per plugin; the oldest go first. */
export const PROFILES_KEPT = 10
/** Heap snapshots are as big as the heap: fewer stay. */
export const HEAP_SNAPSHOTS_KEPT = 3

/** A sortable time for a file name: ISO 8601 with `:` and `.` made safe for every file system. */
export function fileStamp(at: Date): string {
  return at.toISOString().replace(/[:.]/g, '-')
}

export function diagnosticFile(dir: string, plugin: string, instance: number, ext: '.cpuprofile' | '.heapsnapshot', at = new Date()): string {
  return path.join(dir, `${plugin}-${instance}-${fileStamp(at)}${ext}`)
}

/** Deletes all but the newest `keep` files of `plugin` in `dir` (by the time in their names). */
export async function prune(dir: string, plugin: string, ext: string, keep: number): Promise<string[]> {
  const escaped = plugin.replace(/[-_]/g, '\\$&')
  const mine = new RegExp(`^${escaped}-\\d+-(\\d{4}-\\d\\d-\\d\\dT[\\d-]+Z)${ext.replace('.', '\\.')}$`)
  let names: string[]
  try {
    names = await readdir(dir)
  } catch {
    return []
  }
  const stamped = names.flatMap((n) => {
    const m = mine.exec(n)
    return m ? [{ n, at: m[1] }] : []
  })
  stamped.sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0))
  const gone = stamped.slice(keep).map((s) => s.n)
  await Promise.all(gone.map((n) => unlink(path.join(dir, n)).catch(() => undefined)))
  return gone
}
