// Rewrites the generated parts of docs/reference.md (see reference-sections.ts); with --check it
// only says whether the page is up to date, and exits 1 when it is not.
import { readFileSync, writeFileSync } from 'node:fs'
import { regenerate } from './reference-sections.js'

const file = new URL('../../docs/reference.md', import.meta.url)
const doc = readFileSync(file, 'utf8')
const fresh = regenerate(doc)
if (process.argv.includes('--check')) {
  if (fresh !== doc) {
    console.error('docs/reference.md is out of date with the sources: run `npm run docs`')
    process.exitCode = 1
  }
} else if (fresh !== doc) {
  writeFileSync(file, fresh)
  console.log('docs/reference.md rewritten')
}
