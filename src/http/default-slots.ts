import { createHash, timingSafeEqual } from 'node:crypto'
import type { HostConfig } from '../config/config.js'
import type { ServiceProviders } from '../plugin/types.js'

type AuthSlot = NonNullable<ServiceProviders['auth']>
type PermissionSlot = NonNullable<ServiceProviders['permission']>

/** Who the default auth slot says the caller is. */
export type DefaultUser = { kind: 'token' } | { kind: 'loopback' }

/**
 * The built-in auth slot. With `http.token` set, every caller must send `Authorization: Bearer
 * <token>`. Without a token the API is open only to loopback callers: binding to a public address
 * without setting a token must not expose plugin actions to the network.
 */
export function defaultAuth(config: HostConfig['http']): AuthSlot {
  const expected = config.token === undefined ? undefined : digest(config.token)
  return ({ headers, remoteAddress }) => {
    if (expected !== undefined) {
      const given = bearer(headers.authorization)
      // Compare digests so the comparison takes the same time whatever the length of the guess.
      if (given === undefined || !timingSafeEqual(digest(given), expected)) {
        throw unauthorized(given === undefined ? 'send Authorization: Bearer <token> (http.token is set)' : 'the bearer token is wrong')
      }
      return { kind: 'token' } satisfies DefaultUser
    }
    if (!isLoopback(remoteAddress)) {
      throw unauthorized(`only loopback clients are served without a token; set http.token to allow ${remoteAddress ?? 'this client'}`)
    }
    return { kind: 'loopback' } satisfies DefaultUser
  }
}

/** The built-in permission slot: whoever passed auth may run any action. */
export const defaultPermission: PermissionSlot = () => true

function bearer(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header
  const m = value === undefined ? null : /^Bearer[ \t]+(\S+)\s*$/i.exec(value)
  return m ? m[1] : undefined
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest()
}

export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address
  return address === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4)
}

function unauthorized(message: string): Error & { status: number; code: string } {
  return Object.assign(new Error(message), { status: 401, code: 'RIG_ERR_HTTP_UNAUTHORIZED' })
}
