/**
 * The control channel's messages (DESIGN §5). They travel as node-ipc messages: the request is
 * the `data` of a `rig.request` message, the reply the `data` of a `rig.reply` message, framed
 * by node-ipc as `{"type":…,"data":…}\f`.
 */
import { z } from 'zod'
import { DEAD_LETTER_ID, MAX_SELECTED_IDS, parseIsoTime } from '../delivery/dead-letters.js'
import { ProfileOptions } from '../diagnostics/profile-options.js'

export const REQUEST_TYPE = 'rig.request'
export const REPLY_TYPE = 'rig.reply'
/** node-ipc's default frame delimiter; both sides keep the default. */
export const FRAME_DELIMITER = '\f'
/** A request bigger than this (in characters) is refused and never buffered further. */
export const MAX_REQUEST_CHARS = 1024 * 1024

const pluginName = z.string().min(1).max(200)
const letterIds = z.array(z.string().regex(DEAD_LETTER_ID, 'not a dead-letter id')).min(1).max(MAX_SELECTED_IDS)
const isoTime = z.string().max(64).refine((t) => parseIsoTime(t) !== undefined, 'not an ISO 8601 time with a zone')

/** The arguments of every command, by command name. */
export const CommandArgs = {
  status: z.object({ cluster: z.boolean().optional() }).strict(),
  health: z.object({ cluster: z.boolean().optional() }).strict(),
  restart: z.object({ plugin: pluginName }).strict(),
  reload: z.object({ plugin: pluginName }).strict(),
  'plugins.start': z.object({ name: pluginName }).strict(),
  'plugins.stop': z.object({ name: pluginName }).strict(),
  'plugins.list': z.object({}).strict(),
  'plugins.describe': z.object({ name: pluginName }).strict(),
  emit: z.object({ event: z.string().min(1).max(500), payload: z.unknown().optional() }).strict(),
  call: z.object({ target: z.string().min(3).max(500), args: z.unknown().optional() }).strict(),
  'dead-letters.list': z.object({ plugin: pluginName }).strict(),
  profile: ProfileOptions.extend({ plugin: pluginName }).strict(),
  'dead-letters.replay': z.object({ plugin: pluginName, ids: letterIds.optional(), limit: z.number().int().min(1).optional() }).strict(),
  'dead-letters.purge': z
    .object({ plugin: pluginName, ids: letterIds.optional(), before: isoTime.optional() })
    .strict()
    .refine((a) => a.ids === undefined || a.before === undefined, { message: 'give either ids or before, not both' }),
  'log.read': z.object({ from: z.number().int().min(0).optional(), limit: z.number().int().min(1).max(1000).optional(), type: z.string().min(1).max(200).optional() }).strict(),
  'log.replica': z.object({ plugin: pluginName.optional() }).strict(),
} as const

export type ControlCommand = keyof typeof CommandArgs
export type ArgsOf<C extends ControlCommand> = z.input<(typeof CommandArgs)[C]>
export const COMMANDS = Object.keys(CommandArgs) as ControlCommand[]

export const RequestId = z.union([z.string().max(100), z.number().int()])

/** The envelope; `args` is checked against the command's own schema in a second step. */
export const RequestEnvelope = z.object({ id: RequestId, cmd: z.string().max(100), args: z.unknown().optional() }).strict()

export interface ControlRequest<C extends ControlCommand = ControlCommand> {
  id: string | number
  cmd: C
  args: ArgsOf<C>
}

export const ReplyError = z.object({ code: z.string().nullable(), message: z.string() })

export const ControlReply = z.union([
  z.object({ id: RequestId.nullable(), ok: z.literal(true), result: z.unknown() }),
  z.object({ id: RequestId.nullable(), ok: z.literal(false), error: ReplyError }),
])
export type ControlReply = z.infer<typeof ControlReply>

/**
 * Checks a request; returns it typed, or the reason it was refused (a line an operator can act on).
 * `id` is echoed when it could be read, so the client can match the error to its request.
 */
export function parseRequest(raw: unknown): { ok: true; request: ControlRequest } | { ok: false; id: string | number | null; message: string } {
  const env = RequestEnvelope.safeParse(raw)
  const rawId = (raw as { id?: unknown } | null)?.id
  const id = RequestId.safeParse(rawId).success ? (rawId as string | number) : null
  if (!env.success) return { ok: false, id, message: `malformed request: ${issues(env.error)}` }
  const { cmd } = env.data
  if (!Object.hasOwn(CommandArgs, cmd)) {
    return { ok: false, id, message: `unknown command "${cmd}"; known: ${COMMANDS.join(', ')}` }
  }
  const args = CommandArgs[cmd as ControlCommand].safeParse(env.data.args ?? {})
  if (!args.success) return { ok: false, id, message: `bad arguments for "${cmd}": ${issues(args.error)}` }
  return { ok: true, request: { id: env.data.id, cmd: cmd as ControlCommand, args: args.data } }
}

function issues(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ')
}
