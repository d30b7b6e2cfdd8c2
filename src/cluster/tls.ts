/**
 * TLS to the cluster's Redis (`rediss://`): the files of `cluster.tls` read once at start (so a
 * wrong path fails the start, naming the field, instead of every reconnect), and TLS failures
 * explained with their fix. Node's own messages say what failed, not what to change.
 */
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import type { ConnectionOptions } from 'node:tls'
import type { ClusterConfig } from '../config/cluster-config.js'
import { OutriggerError } from '../errors.js'

/** What ioredis passes to `tls.connect` for a rediss:// URL. */
export type RedisTls = Pick<ConnectionOptions, 'ca' | 'cert' | 'key' | 'servername'>

const WANTS: Record<'ca' | 'cert' | 'key', { pem: RegExp; what: string }> = {
  ca: { pem: /-----BEGIN CERTIFICATE-----/, what: "the PEM file of the CA that signed the Redis server's certificate" },
  cert: { pem: /-----BEGIN CERTIFICATE-----/, what: "the PEM file of this node's client certificate" },
  key: { pem: /-----BEGIN [A-Z ]*PRIVATE KEY-----/, what: "the PEM file of the client certificate's private key (unencrypted)" },
}

/** Reads `cluster.tls`'s files, relative ones against `baseDir` (the config file's folder). */
export async function loadTls(tls: ClusterConfig['tls'], baseDir: string): Promise<RedisTls | undefined> {
  if (!tls) return undefined
  const out: RedisTls = {}
  for (const field of ['ca', 'cert', 'key'] as const) {
    const given = tls[field]
    if (given === undefined) continue
    const file = path.resolve(baseDir, given)
    const fix = `set cluster.tls.${field} to ${WANTS[field].what}; a relative path is resolved against the config file's folder (${baseDir})`
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch (err) {
      throw new OutriggerError('RIG_ERR_CONFIG_INVALID', `cluster.tls.${field}: cannot read ${file} (${(err as Error).message}): ${fix}`)
    }
    if (!WANTS[field].pem.test(text)) throw new OutriggerError('RIG_ERR_CONFIG_INVALID', `cluster.tls.${field}: ${file} is not PEM (no "-----BEGIN" block of the right kind): ${fix}`)
    out[field] = text
  }
  if (tls.servername) out.servername = tls.servername
  return out
}

/** Node's codes for a server certificate this process does not trust. */
const UNTRUSTED = new Set(['SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'INVALID_CA', 'CERT_SIGNATURE_FAILURE'])
const EXPIRED = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_REVOKED'])
const WRONG_NAME = new Set(['ERR_TLS_CERT_ALTNAME_INVALID', 'HOSTNAME_MISMATCH'])

/**
 * The fix for a TLS failure, or undefined when `err` is not one. Only the server's certificate
 * failures count as `certificate`: no retry can fix them, while the others may be passing.
 */
export function tlsFailure(err: Error, secure = true): { certificate: boolean; message: string } | undefined {
  const code = (err as { code?: unknown }).code
  if (typeof code !== 'string') return undefined
  // A server that requires a client certificate and got none may just reset the connection
  // (TLS 1.3 sends its refusal after the handshake): the reset alone cannot tell, so only a hint.
  if (code === 'ECONNRESET' && secure) {
    return { certificate: false, message: `${err.message}: if this repeats, the server may require a client certificate (tls-auth-clients): set cluster.tls.cert and cluster.tls.key` }
  }
  const says = `TLS: ${err.message} (${code})`
  if (UNTRUSTED.has(code)) {
    return { certificate: true, message: `${says}: the Redis server's certificate is not signed by a CA this host trusts. Set cluster.tls.ca to the PEM file of the CA that signed it (or start the host with NODE_EXTRA_CA_CERTS=<that file>)` }
  }
  if (EXPIRED.has(code)) return { certificate: true, message: `${says}: renew the Redis server's certificate, or correct this machine's clock` }
  if (WRONG_NAME.has(code)) {
    return { certificate: true, message: `${says}: the certificate does not name the host of the URL. Use a host name it names in cluster.redis, or set cluster.tls.servername to one` }
  }
  if (/CERTIFICATE_REQUIRED|HANDSHAKE_FAILURE|BAD_CERTIFICATE|UNKNOWN_CA/.test(code)) {
    return { certificate: false, message: `${says}: the server refused this node's TLS handshake; if it requires client certificates (tls-auth-clients), set cluster.tls.cert and cluster.tls.key to a certificate signed by a CA it trusts` }
  }
  if (/WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG/.test(code)) {
    return { certificate: false, message: `${says}: the port does not speak TLS; use the server's tls-port, or redis:// for a plain-text port` }
  }
  return undefined
}
