/** Cluster test parts: a recording cluster plugin and readers of what its instances recorded. */
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { worker, type PluginDir } from './plugins.js'

/**
 * A `placement: "cluster"` plugin whose hook appends `<node> <key> <i>` to a file of its instance,
 * synchronously before it returns: what was acked was written, even if the node is killed next.
 */
export function addRecorder(dir: PluginDir, name: string, out: string, w: object = {}): Promise<string> {
  return dir.add(
    name,
    worker(name, { placement: 'cluster', instances: 2, limits: { unresponsiveMs: 1000 }, ...w }),
    `
    import { appendFileSync, openSync } from 'node:fs'
    import { threadId } from 'node:worker_threads'
    let fd
    export default {
      init(ctx) { fd = openSync(${JSON.stringify(out)} + '/' + process.pid + '-' + threadId + '-' + ctx.name + '.log', 'a') },
      hooks: {
        'work:*'(p, ctx) {
          if (p.fail) throw new Error('refused ' + p.i)
          appendFileSync(fd, (p.node ?? '-') + ' ' + (p.key ?? '-') + ' ' + p.i + '\\n')
        },
      },
    }
    `,
  )
}

export interface Seen {
  /** How many times each event number was processed. */
  counts: Map<number, number>
  /** Per key, the event numbers in the order they were processed (per recording file, merged in file order). */
  lines: Array<{ file: string; key: string; i: number }>
}

export async function readSeen(out: string): Promise<Seen> {
  const counts = new Map<number, number>()
  const lines: Seen['lines'] = []
  for (const f of (await readdir(out)).filter((x) => x.endsWith('.log'))) {
    for (const line of (await readFile(path.join(out, f), 'utf8')).split('\n')) {
      if (!line) continue
      const [, key, n] = line.split(' ')
      const i = Number(n)
      counts.set(i, (counts.get(i) ?? 0) + 1)
      lines.push({ file: f, key, i })
    }
  }
  return { counts, lines }
}

/** How many distinct events of 0 … n-1 were seen, and how many extra times (duplicates). */
export function tally(seen: Seen, n: number): { distinct: number; duplicates: number; missing: number[] } {
  let distinct = 0
  let duplicates = 0
  const missing: number[] = []
  for (let i = 0; i < n; i++) {
    const c = seen.counts.get(i) ?? 0
    if (c > 0) distinct++
    else if (missing.length < 20) missing.push(i)
    duplicates += Math.max(0, c - 1)
  }
  return { distinct, duplicates, missing }
}
