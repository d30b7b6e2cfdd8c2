/**
 * Run by `validate` in a child process of its own: imports a plugin's entry and reports the shape
 * of its default export. The entry's top-level code runs here, so an endless loop, a
 * `process.exit` or a crash in it cannot take the CLI (or its `--json` output) down with it.
 */
import { pathToFileURL } from 'node:url'

/** What the child tells `validate`. */
export type ProbeReport =
  | { ok: true; kind: string; keys: string[]; truthy: string[] }
  | { ok: false; message: string }

const reply = (report: ProbeReport): void => void process.send?.(report, () => process.exit(0))

try {
  const mod = (await import(pathToFileURL(process.argv[2]).href)) as { default?: unknown }
  const def = mod.default as Record<string, unknown> | null | undefined
  const isObject = typeof def === 'object' && def !== null
  const keys = isObject ? Object.keys(def) : []
  reply({ ok: true, kind: def === null ? 'null' : typeof def, keys, truthy: keys.filter((k) => Boolean(def![k])) })
} catch (err) {
  reply({ ok: false, message: err instanceof Error ? err.message : String(err) })
}
