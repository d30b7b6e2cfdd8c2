// Writes the JSON Schemas of the manifest and the host config from their zod schemas.
import { mkdirSync, writeFileSync } from 'node:fs'
import { z } from 'zod'
import { HostConfigSchema } from '../src/config/config.js'
import { ManifestSchema } from '../src/manifest/schema.js'

const out = new URL('../../schema/', import.meta.url)
mkdirSync(out, { recursive: true })
const write = (file: string, schema: z.ZodType, title: string) => {
  const json = { title, ...z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) }
  writeFileSync(new URL(file, out), JSON.stringify(json, null, 2) + '\n')
}
write('manifest.schema.json', ManifestSchema, 'Outrigger plugin manifest')
write('config.schema.json', HostConfigSchema, 'Outrigger host config')
