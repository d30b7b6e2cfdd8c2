/**
 * The parts of `docs/reference.md` that are written from the sources, so they cannot drift from
 * them: the error codes (src/errors.ts with src/error-remedies.ts), the CLI commands (the
 * commander program itself), and the manifest and host-config fields (their zod schemas). Each
 * part sits between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->`; the prose around
 * the markers is written by hand. `npm run docs` rewrites the parts; test/reference-doc.test.ts
 * fails when the committed page differs from what this produces.
 */
import type { Argument, Command, Option } from 'commander'
import { z } from 'zod'
import { buildProgram } from '../src/cli/main.js'
import { HostConfigSchema } from '../src/config/config.js'
import { ErrorRemedies } from '../src/error-remedies.js'
import { ErrorCodes, HttpErrorCodes } from '../src/errors.js'
import { ManifestSchema } from '../src/manifest/schema.js'

/** What the manifest fields mean; the schema has the types and defaults (and has no descriptions). */
const MANIFEST_MEANING: Record<string, string> = {
  name: 'The plugin name; equals the folder name without `@version`',
  version: 'A semver version; of folders `name@version` side by side, the highest wins',
  type: '`core` runs in the host\'s event loop; `worker` runs isolated in threads or processes',
  main: 'The entry module (an ES module), inside the plugin folder',
  engine: 'A semver range of Outrigger versions; a mismatch refuses the plugin',
  description: 'Free text',
  reloadable: 'Core plugins: its `close` leaves nothing behind, so `outrigger reload` may close it and import its entry afresh, and `plugins disable --now` may stop it (see `reload.md`); worker plugins always reload',
  worker: 'Worker plugins only; every field is optional and a partial object takes the defaults for the rest',
  'worker.isolation': '`thread` (worker_threads, via piscina) or `process` (child_process.fork)',
  'worker.instances': 'How many instances share the events',
  'worker.delivery': '`at-most-once`: events in flight when an instance dies are `lost`; `at-least-once`: redelivered up to `maxAttempts`, then dead letters; `durable`: at-least-once through a journal under `<stateDir>/journal/<plugin>` that outlives the host (see `durability.md`)',
  'worker.maxAttempts': 'At-least-once and durable: attempts (within one run) before an event becomes a dead letter',
  'worker.retry.backoffMs.initial': 'At-least-once and durable: wait before retrying an event whose hook failed; it doubles per attempt up to `max` (a crash is retried at once)',
  'worker.retry.backoffMs.max': 'Longest wait before a retry',
  'worker.partitionBy': 'A dotted path into the payload: the same key goes to the same instance, in order; at-least-once and durable, a failed event holds back the later ones of its key until it succeeds or leaves',
  'worker.queue.max': "Capacity of the plugin's queue; under `durable`, the in-memory window over the journal (past it events wait in the journal only, never dropped)",
  'worker.queue.overflow': 'When the queue is full: drop the oldest, drop the newest, or reject (`RIG_ERR_QUEUE_FULL`)',
  'worker.restart.policy': '`permanent` always restarts, `transient` only after a failure, `temporary` never',
  'worker.restart.maxRestarts': 'More restarts than this within `windowMs` quarantine the plugin (`RIG_ERR_CRASH_LOOP`)',
  'worker.restart.windowMs': 'The window of `maxRestarts`',
  'worker.restart.backoffMs.initial': 'First restart delay; it doubles up to `max`',
  'worker.restart.backoffMs.max': 'Longest restart delay',
  'worker.limits.memoryMb': 'Memory past which an instance is recycled: a thread\'s heap plus external memory (its heap is also capped by `resourceLimits`), a process\'s RSS',
  'worker.limits.startTimeoutMs': 'Time an instance has to load the plugin and run `init`',
  'worker.limits.stopTimeoutMs': 'Time an instance has to close before it is killed',
  'worker.limits.unresponsiveMs': 'No heartbeat answer within this marks the instance unresponsive; it is restarted',
  'worker.limits.handlerTimeoutMs': 'Longest run of one hook or function call; a hook past it fails its event (`RIG_ERR_HANDLER_TIMEOUT`) and the worker goes on',
  'worker.placement': '`cluster`: events go to the plugin\'s Redis stream and every supervisor of the cluster running it consumes them through one consumer group, at-least-once (needs the host config\'s `cluster`; see docs/cluster.md)',
}

/** Config fields whose schema has no `.describe()` text. */
const CONFIG_MEANING: Record<string, string> = {
  'http.host': 'The address the HTTP API listens on; without `http.token` only loopback callers are served',
  'http.port': 'The HTTP port (0 picks a free one); for `outrigger start`, `--port` and then `PORT` win over it',
  'http.maxBodyBytes': 'Larger request bodies are refused with 413',
  'http.requestTimeoutMs': 'A client that has not sent its whole request by then gets 408',
}

type JsonSchema = {
  type?: string | string[]
  enum?: unknown[]
  anyOf?: JsonSchema[]
  default?: unknown
  description?: string
  properties?: Record<string, JsonSchema>
  additionalProperties?: boolean | JsonSchema
  required?: string[]
  minimum?: number
  maximum?: number
  exclusiveMinimum?: number
}

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ')

export function errorCodesSection(): string {
  const rows = (codes: Record<string, string>) =>
    Object.entries(codes).map(([code, meaning]) => `| \`${code}\` | ${cell(meaning)} | ${cell(ErrorRemedies[code as keyof typeof ErrorRemedies])} |`)
  return [
    'Raised by the supervisor, its plugins\' lifecycle and the CLI:',
    '',
    '| code | means | what to do |',
    '| --- | --- | --- |',
    ...rows(ErrorCodes),
    '',
    'Refusals the HTTP layer makes on its own (the status is in brackets):',
    '',
    '| code | means | what to do |',
    '| --- | --- | --- |',
    ...rows(HttpErrorCodes),
  ].join('\n')
}

function optionUsage(o: Option): string {
  return o.required || o.optional ? `[${o.flags.replace(/^-\w, /, '')}]` : `[${o.long ?? o.flags}]`
}

function argumentUsage(a: Argument): string {
  const name = a.name() + (a.variadic ? '…' : '')
  return a.required ? `<${name}>` : `[${name}]`
}

function fullName(cmd: Command): string {
  const names: string[] = []
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name())
  return names.join(' ')
}

export function cliSection(): string {
  const program = buildProgram()
  const lines = ['| command | what it does |', '| --- | --- |']
  const walk = (cmd: Command): void => {
    for (const sub of cmd.commands) {
      if (sub.commands.length > 0) {
        walk(sub)
        continue
      }
      const usage = [fullName(sub), ...sub.registeredArguments.map(argumentUsage), ...sub.options.map(optionUsage)].join(' ')
      lines.push(`| \`${cell(usage)}\` | ${cell(sub.description())} |`)
    }
  }
  walk(program)
  const globals = program.options.map((o) => `\`${o.flags}\` (${o.description}${o.defaultValue !== undefined ? `, default \`${String(o.defaultValue)}\`` : ''})`)
  lines.push('', `Every command takes the global options ${globals.join(', ')}; \`outrigger help <command>\` prints a command's options.`)
  return lines.join('\n')
}

function typeOf(s: JsonSchema): string {
  if (s.enum) return s.enum.map((v) => `\`${JSON.stringify(v)}\``).join(' \\| ')
  if (s.anyOf) return s.anyOf.map(typeOf).join(' \\| ')
  const t = Array.isArray(s.type) ? s.type.join(' | ') : (s.type ?? 'any')
  const lo = s.minimum ?? (s.exclusiveMinimum !== undefined ? s.exclusiveMinimum + 1 : undefined)
  const hi = s.maximum !== undefined && s.maximum < Number.MAX_SAFE_INTEGER ? s.maximum : undefined
  if (t === 'integer' && (lo !== undefined || hi !== undefined)) return `integer ${lo ?? ''}…${hi ?? ''}`
  return t
}

function fieldRows(schema: JsonSchema, meaning: Record<string, string>, prefix = ''): string[] {
  const rows: string[] = []
  for (const [key, s] of Object.entries(schema.properties ?? {})) {
    if (key === '$schema') continue
    const path = prefix + key
    const required = schema.required?.includes(key) && s.default === undefined
    // An object whose fields follow gets a row only when there is something to say about it.
    const said = s.description ?? meaning[path]
    const def = required ? '**required**' : s.default === undefined || (typeof s.default === 'object' && s.default !== null && Object.keys(s.default).length === 0) ? '' : `\`${JSON.stringify(s.default)}\``
    if (!s.properties || said) rows.push(`| \`${path}\` | ${typeOf(s)} | ${def} | ${cell(said ?? '')} |`)
    if (s.properties) rows.push(...fieldRows(s, meaning, `${path}.`))
    const entry = s.additionalProperties
    if (entry && typeof entry === 'object' && entry.properties) rows.push(...fieldRows(entry, meaning, `${path}.<name>.`))
  }
  return rows
}

function fieldsTable(schema: z.ZodType, meaning: Record<string, string>): string {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema
  return ['| field | type | default | meaning |', '| --- | --- | --- | --- |', ...fieldRows(json, meaning)].join('\n')
}

export const manifestSection = (): string => fieldsTable(ManifestSchema, MANIFEST_MEANING)
export const configSection = (): string => fieldsTable(HostConfigSchema, CONFIG_MEANING)

export const SECTIONS: Record<string, () => string> = {
  'error-codes': errorCodesSection,
  cli: cliSection,
  manifest: manifestSection,
  config: configSection,
}

/** The page with every generated part rewritten; throws when a part's markers are missing. */
export function regenerate(doc: string): string {
  let out = doc
  for (const [name, render] of Object.entries(SECTIONS)) {
    const open = `<!-- generated:${name} (npm run docs; do not edit by hand) -->`
    const close = `<!-- /generated:${name} -->`
    const start = out.indexOf(open)
    const end = out.indexOf(close)
    if (start < 0 || end < start) throw new Error(`docs/reference.md has no "${open}" … "${close}" markers`)
    out = `${out.slice(0, start + open.length)}\n${render()}\n${out.slice(end)}`
  }
  return out
}
