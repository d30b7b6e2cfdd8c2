/**
 * Why an entry module could not be imported, in words a plugin author can act on. Node's
 * `import()` reports an ES-module syntax error with its message only ("Unexpected token ';'"), no
 * file or line; a child `node --check` of the entry prints `file:line`, the source line and a
 * caret, which gives the column. It runs only on this failure path, never on a good start. Like
 * definition.ts, this file has no host dependencies: the worker runtime imports it too.
 */
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { errorMessage } from '../errors.js'
import { describeDenied } from './access-denied.js'

/** How long `node --check` may take before the location is given up (the message stands alone). */
const CHECK_TIMEOUT_MS = 5000

/** Where a syntax error is: `file:line:column`. */
export interface SourceLocation {
  file: string
  line: number
  column: number
}

/**
 * The reason an entry failed to import: for a syntax error, its `file:line:column` and, when it is
 * ES-module syntax in a CommonJS package, what to change; otherwise the error's message.
 */
export async function describeImportError(entry: string, err: unknown): Promise<string> {
  const message = errorMessage(err)
  if (!isSyntaxError(err)) return describeDenied(err) ?? message
  const where = await locateSyntaxError(entry)
  const hint = esmInCommonJs(message) ? await commonJsHint(entry) : ''
  return `${where ? `syntax error at ${where.file}:${where.line}:${where.column}: ` : 'syntax error: '}${message}${hint}`
}

function isSyntaxError(err: unknown): boolean {
  return err instanceof Error && err.name === 'SyntaxError'
}

/** The messages Node gives when a file with `export` or `import` statements is loaded as CommonJS. */
function esmInCommonJs(message: string): boolean {
  return /Unexpected token 'export'|Cannot use import statement outside a module/.test(message)
}

/** Runs `node --check <entry>` and reads the location it prints; undefined when it cannot tell. */
export function locateSyntaxError(entry: string): Promise<SourceLocation | undefined> {
  return new Promise((resolve) => {
    try {
      // NODE_OPTIONS could load hooks or loaders of the host into the check: keep it plain.
      const env = { ...process.env, NODE_OPTIONS: '' }
      execFile(process.execPath, ['--no-warnings', '--check', entry], { env, timeout: CHECK_TIMEOUT_MS, windowsHide: true }, (_err, _stdout, stderr) => {
        resolve(parseCheckOutput(String(stderr)))
      })
    } catch {
      // Spawning may be refused (a permission model, no process left): the message stands alone.
      resolve(undefined)
    }
  })
}

/**
 * `node --check` prints the file and line, the source line, then a caret line under the token:
 * ```
 * /plugins/greeter/index.js:3
 *     x() { foo(; }
 *               ^
 * ```
 */
export function parseCheckOutput(stderr: string): SourceLocation | undefined {
  const lines = stderr.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const m = /^(.+):(\d+)$/.exec(lines[i])
    if (!m) continue
    const caret = lines[i + 2]
    const at = caret === undefined ? -1 : caret.indexOf('^')
    return { file: m[1], line: Number(m[2]), column: at >= 0 && /^\s*\^+\s*$/.test(caret) ? at + 1 : 1 }
  }
  return undefined
}

/** What to change so Node loads the entry as an ES module. */
async function commonJsHint(entry: string): Promise<string> {
  const pkg = await nearestPackageJson(path.dirname(entry))
  const where = pkg ? `add "type": "module" to ${pkg}` : `add a package.json with {"type": "module"} to ${path.dirname(entry)}`
  return ` (the entry is written as an ES module, but Node loads it as CommonJS: ${where}, or name the file .mjs and point "main" in manifest.json at it)`
}

async function nearestPackageJson(dir: string): Promise<string | undefined> {
  for (let d = dir; ; d = path.dirname(d)) {
    const file = path.join(d, 'package.json')
    const text = await readFile(file, 'utf8').catch(() => undefined)
    if (text !== undefined) return file
    if (path.dirname(d) === d) return undefined
  }
}
