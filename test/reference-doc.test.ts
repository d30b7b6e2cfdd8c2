/**
 * docs/reference.md stands alone and cannot drift: its generated parts (error codes, CLI commands,
 * manifest and config fields) equal what the sources produce now, a new error code shows up as a
 * difference, and the README links the page instead of a design file users do not have.
 */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { describe, it } from 'node:test'
import { ErrorRemedies } from '../src/error-remedies.js'
import { ErrorCodes, HttpErrorCodes } from '../src/errors.js'
import { regenerate } from '../scripts/reference-sections.js'
import { ROOT } from './helpers/cli-run.js'

const read = (...p: string[]) => readFile(path.join(ROOT, ...p), 'utf8')

describe('docs/reference.md', () => {
  it('is what `npm run docs` writes from the sources today', async () => {
    const doc = await read('docs', 'reference.md')
    assert.ok(doc === regenerate(doc), 'docs/reference.md is out of date with the sources: run `npm run docs` and commit the page')
  })

  it('differs from the sources as soon as an error code is added', async () => {
    const doc = await read('docs', 'reference.md')
    const codes = ErrorCodes as Record<string, string>
    const remedies = ErrorRemedies as Record<string, string>
    codes.RIG_ERR_JUST_ADDED = 'A code added after the page was written'
    remedies.RIG_ERR_JUST_ADDED = 'Regenerate the page'
    try {
      const fresh = regenerate(doc)
      assert.notEqual(fresh, doc)
      assert.match(fresh, /\| `RIG_ERR_JUST_ADDED` \| A code added after the page was written \| Regenerate the page \|/)
    } finally {
      delete codes.RIG_ERR_JUST_ADDED
      delete remedies.RIG_ERR_JUST_ADDED
    }
  })

  it('lists every error code with advice, and names no code that does not exist', async () => {
    const doc = await read('docs', 'reference.md')
    const known = new Set([...Object.keys(ErrorCodes), ...Object.keys(HttpErrorCodes)])
    for (const code of known) {
      assert.ok(ErrorRemedies[code as keyof typeof ErrorRemedies]?.length > 20, `${code} has advice`)
      assert.match(doc, new RegExp(`\\| \`${code}\` \\|`), `${code} has a row`)
    }
    for (const file of ['README.md', 'docs/demo.md', 'docs/production.md', 'docs/reference.md']) {
      const text = await read(file)
      const named = new Set(text.match(/RIG_ERR_[A-Z_]+/g) ?? [])
      assert.deepEqual([...named].filter((c) => !known.has(c) && c !== 'RIG_ERR_'), [], `${file} names only real codes`)
    }
  })

  it('covers every command, HTTP route and section a user needs', async () => {
    const doc = await read('docs', 'reference.md')
    for (const cmd of ['start', 'status', 'health', 'top', 'restart', 'emit', 'call', 'dead-letters list', 'dead-letters replay', 'plugins enable', 'validate', 'new']) {
      assert.match(doc, new RegExp(`\`outrigger ${cmd}[ \`]`), cmd)
    }
    for (const route of ['/_health', '/_status', '/_info', '/metrics', '/_/<plugin>/<controller>/<action>']) assert.ok(doc.includes(`| \`${route}\``), route)
    for (const heading of ['## Plugins', '### Manifest', '## Host config', '## Status report', '## CLI', '## HTTP API', '## Error codes']) assert.ok(doc.includes(`\n${heading}\n`), heading)
    assert.match(doc, /received = processed \+ failed \+ inFlight \+ queue\.depth \+ queue\.dropped \+ queue\.rejected \+ lost \+ deadLettered/)
    assert.match(doc, /\| `worker\.limits\.handlerTimeoutMs` \| integer 1…2147483647 \| `30000` \|/, 'the manifest table has types and defaults')
  })
})

describe('the docs a user has', () => {
  it('the README links the reference and cites no file outside the repository', async () => {
    const readme = await read('README.md')
    assert.match(readme, /\]\(docs\/reference\.md\)/)
    for (const file of ['README.md', 'docs/demo.md', 'docs/production.md', 'docs/benchmarks.md', 'docs/reference.md']) {
      assert.doesNotMatch(await read(file), /DESIGN(\.md)?\b/, `${file} cites no design file`)
    }
  })
})
