// @ts-check
/**
 * How a connection says who it is. A browser's WebSocket cannot set an Authorization header, so a
 * bearer token may also come as the subprotocols `['bearer', '<token>']` or in an auth frame
 * `{ auth: "<token>" }`. Whichever way, the auth slot sees `authorization: Bearer <token>`, the
 * header an HTTP caller sends: one code path, one set of errors.
 */

/** @typedef {{ headers: Record<string, string | string[] | undefined>, remoteAddress: string | undefined }} Credentials */

/** The subprotocol the server answers: never the token, which is the protocol offered after it. */
export const SUBPROTOCOL = 'bearer'

/** Longer than any real bearer token; a bound on what a frame can make the host hash. */
const MAX_TOKEN = 4096

/** Query parameters that would carry a token in the URL (RFC 6750 names one `access_token`). */
const URL_TOKENS = ['token', 'access_token']

const HOW = `send it as the subprotocols: new WebSocket(url, ['bearer', token]), or as a frame { "auth": "<token>" } before the requests`

/**
 * ws's handleProtocols. This server speaks no subprotocol of its own: it answers `bearer` to a
 * client that offers it (a browser fails a handshake whose answer it did not offer), none otherwise.
 * @param {Set<string>} offered
 * @returns {string | false}
 */
export function chooseProtocol(offered) {
  return offered.has(SUBPROTOCOL) ? SUBPROTOCOL : false
}

/**
 * The credentials of an upgrade request, or why they cannot be taken: a close reason (at most 123
 * bytes, what a browser's `onclose` shows) and the full message for the error frame.
 * @param {import('node:http').IncomingMessage} req
 * @returns {{ credentials: Credentials } | { refused: { message: string, reason: string }, credentials: Credentials }}
 */
export function upgradeCredentials(req) {
  const remoteAddress = req.socket.remoteAddress
  const bare = { headers: {}, remoteAddress }
  const param = urlToken(req.url)
  if (param) {
    return {
      credentials: bare,
      refused: {
        message: `a token in the URL (?${param}=) is refused: URLs end up in access logs, proxies and browser history; ${HOW}`,
        reason: "token in the URL refused: use the subprotocols ['bearer', token] or an auth frame",
      },
    }
  }
  const offered = String(req.headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')
  if (!offered.includes(SUBPROTOCOL)) return { credentials: { headers: req.headers, remoteAddress } }
  if (offered.length !== 2 || offered[0] !== SUBPROTOCOL) {
    return {
      credentials: bare,
      refused: {
        message: `the subprotocols name a bearer token as exactly two values, 'bearer' then the token (found ${offered.length} values, 'bearer' at position ${offered.indexOf(SUBPROTOCOL) + 1}); ${HOW}`,
        reason: "bad bearer subprotocols: offer exactly ['bearer', token]",
      },
    }
  }
  if (req.headers.authorization !== undefined) {
    return {
      credentials: bare,
      refused: {
        message: 'the upgrade carries both an Authorization header and a bearer subprotocol: send the token one way only',
        reason: 'token sent twice (Authorization and subprotocol): send it one way',
      },
    }
  }
  // The token leaves the protocol header, so an action that reads its headers sees it only where
  // an HTTP action would: in authorization.
  return { credentials: { headers: { ...req.headers, 'sec-websocket-protocol': SUBPROTOCOL, authorization: `Bearer ${offered[1]}` }, remoteAddress } }
}

/**
 * The connection's credentials with the token of an auth frame.
 * @param {Credentials} credentials @param {string} token
 * @returns {Credentials}
 */
export function withToken(credentials, token) {
  return { ...credentials, headers: { ...credentials.headers, authorization: `Bearer ${token}` } }
}

/**
 * The token of an auth frame, or a message naming what is wrong. The message never quotes the
 * value: a malformed token may still be a secret.
 * @param {unknown} value
 * @returns {{ token: string } | { error: string }}
 */
export function authToken(value) {
  const rule = `"auth" is the bearer token: a string of 1–${MAX_TOKEN} characters without spaces`
  if (typeof value !== 'string') return { error: `${rule} (found ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value})` }
  if (value.length === 0 || value.length > MAX_TOKEN) return { error: `${rule} (found ${value.length} characters)` }
  if (!/^[\x21-\x7e]+$/.test(value)) return { error: `${rule} (found whitespace, a control or a non-ASCII character)` }
  return { token: value }
}

/** @param {string | undefined} url */
function urlToken(url) {
  const query = new URL(url ?? '/', 'ws://host').searchParams
  return URL_TOKENS.find((p) => query.has(p))
}
