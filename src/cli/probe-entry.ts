/**
 * Run by `validate` in a child process of its own: imports a plugin's entry and checks what it
 * exports with the same shape check the supervisor and the worker runtime use. The entry's
 * top-level code runs here, so an endless loop, a `process.exit` or a crash in it cannot take the
 * CLI (or its `--json` output) down with it.
 */
import { pathToFileURL } from 'node:url'
import { checkShape, definitionOf } from '../plugin/definition.js'
import { describeImportError } from '../plugin/import-error.js'

/** What the child tells `validate`. */
export type ProbeReport = { ok: true; problems: string[] } | { ok: false; message: string }

const reply = (report: ProbeReport): void => void process.send?.(report, () => process.exit(0))

try {
  const [file, type] = process.argv.slice(2)
  const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>
  reply({ ok: true, problems: checkShape(definitionOf(mod), type === 'worker' ? 'worker' : 'core') })
} catch (err) {
  reply({ ok: false, message: await describeImportError(process.argv[2], err) })
}
