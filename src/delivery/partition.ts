/** Reads a dotted path (`order.customerId`) out of a payload; undefined when any step is missing. */
export function pathGetter(path: string): (payload: unknown) => unknown {
  const steps = path.split('.')
  return (payload) => {
    let cur = payload
    for (const s of steps) {
      if (cur === null || typeof cur !== 'object') return undefined
      cur = (cur as Record<string, unknown>)[s]
    }
    return cur
  }
}

/** A key's string form: what partitions and holds compare. */
export function keyString(key: unknown): string {
  return typeof key === 'string' ? key : String(key)
}

/** FNV-1a over the key's string form: stable across restarts, so a key keeps its instance. */
export function partitionOf(key: unknown, partitions: number): number {
  const s = keyString(key)
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return (h >>> 0) % partitions
}
