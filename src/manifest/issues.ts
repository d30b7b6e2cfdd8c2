/**
 * How a zod error reads in Outrigger's messages. Host-free: the worker runtime uses it too, for a
 * plugin's options.
 */
import type { z } from 'zod'
/** One line per zod issue: `field.path: expected …, found …`. */
export function describeIssues(error: z.ZodError, input: unknown): string[] {
  return error.issues.map((issue) => {
    const where = issue.path.length ? issue.path.join('.') : '(root)'
    const found = issue.path.length ? valueAt(input, issue.path as PropertyKey[]) : input
    const shown = found === undefined ? 'nothing' : JSON.stringify(found)
    const msg = issue.code === 'unrecognized_keys' ? `unknown field(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}` : issue.message
    return `${where}: ${msg} (found ${truncate(shown ?? String(found))})`
  })
}

function valueAt(v: unknown, p: PropertyKey[]): unknown {
  let cur: unknown = v
  for (const k of p) {
    if (cur === null || typeof cur !== 'object') return undefined
    cur = (cur as Record<PropertyKey, unknown>)[k]
  }
  return cur
}

function truncate(s: string): string {
  return s.length > 60 ? s.slice(0, 57) + '...' : s
}
