import { readFileSync } from 'node:fs'

/** Outrigger's own version, read once from the package (compiled code sits in dist/src/). */
export const VERSION: string = (JSON.parse(
  readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
) as { version: string }).version
