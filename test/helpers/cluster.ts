/** Cluster test parts: a recording cluster plugin and readers of what its instances recorded. */
import { readdir, readFile, stat } from 'node:fs/promises'
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
          appendFileSync(fd, (p.node ?? '-') + ' ' + (p.key ?? '-') + ' ' + p.i + ' ' + (performance.timeOrigin + performance.now()).toFixed(3) + '\\n')
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
  lines: Array<{ file: string; key: string; i: number; t: number }>
}

export async function readSeen(out: string): Promise<Seen> {
  const counts = new Map<number, number>()
  const lines: Seen['lines'] = []
  for (const f of (await readdir(out)).filter((x) => x.endsWith('.log'))) {
    for (const line of (await readFile(path.join(out, f), 'utf8')).split('\n')) {
      if (!line) continue
      const [, key, n, t] = line.split(' ')
      const i = Number(n)
      counts.set(i, (counts.get(i) ?? 0) + 1)
      lines.push({ file: f, key, i, t: Number(t) })
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

/** Bytes recorded so far: a cheap lower bound of progress (each line is at least 20 bytes). */
export async function recordedBytes(out: string): Promise<number> {
  let n = 0
  for (const f of (await readdir(out)).filter((x) => x.endsWith('.log'))) n += (await stat(path.join(out, f))).size
  return n
}

/**
 * A core plugin that emits `work:x` events when told (`pump:go` with `{ n, keys }`): `{ i, key }`,
 * keys taken in turn, 1000 per turn of the event loop so the host keeps answering meanwhile.
 */
export function addPump(dir: PluginDir): Promise<string> {
  return dir.add(
    'pump',
    { name: 'pump', version: '1.0.0', type: 'core' },
    `
    export default {
      hooks: {
        'pump:go'({ n, keys }, ctx) {
          let i = 0
          const step = () => {
            const end = Math.min(n, i + 1000)
            for (; i < end; i++) ctx.emit('work:x', keys ? { i, key: 'k' + (i % keys) } : { i })
            if (i < n) setTimeout(step, 5)
          }
          step()
        },
      },
    }
    `,
  )
}

/** Per key, whether the first processing of each event follows emission order (duplicates aside). */
export function orderBreaks(seen: Seen): string[] {
  const byKey = new Map<string, Seen['lines']>()
  for (const l of seen.lines) {
    let a = byKey.get(l.key)
    if (!a) byKey.set(l.key, (a = []))
    a.push(l)
  }
  const breaks: string[] = []
  for (const [key, lines] of byKey) {
    lines.sort((a, b) => a.t - b.t)
    const first = new Set<number>()
    let last = -1
    for (const l of lines) {
      if (first.has(l.i)) continue
      first.add(l.i)
      if (l.i < last) breaks.push(`key ${key}: event ${l.i} first ran after event ${last}`)
      last = Math.max(last, l.i)
    }
  }
  return breaks
}
