import { z } from 'zod'
import { OutriggerError } from '../errors.js'

/** The longest profile on demand: a control or HTTP request waits for it. */
export const MAX_PROFILE_SECONDS = 120

/** `outrigger profile <plugin> [--instance N] [--seconds S]`, `POST /_/_plugins/<plugin>/profile`, `sup.profile`. */
export const ProfileOptions = z
  .object({
    instance: z.number().int().min(0).max(63).optional(),
    seconds: z.number().positive().max(MAX_PROFILE_SECONDS).optional(),
  })
  .strict()
export type ProfileOptions = z.infer<typeof ProfileOptions>

/** Checks options from a person or a script: RIG_ERR_PROFILE_OPTIONS names the field. */
export function checkProfileOptions(raw: unknown, where: string): ProfileOptions {
  const r = ProfileOptions.safeParse(raw ?? {})
  if (r.success) return r.data
  const why = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')
  throw new OutriggerError('RIG_ERR_PROFILE_OPTIONS', `${where}: bad profile options (${why}); give "instance" (an instance id, 0 or more) and "seconds" (more than 0, at most ${MAX_PROFILE_SECONDS})`)
}
