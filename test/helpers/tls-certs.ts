/**
 * Throwaway certificates for the TLS tests, made with the `openssl` CLI: a private CA, a server
 * certificate for 127.0.0.1 and localhost, and a client certificate, all signed by that CA.
 * Nothing here is trusted by the system, so a client that is not given the CA refuses the server.
 */
import { execFile, spawnSync } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

export const HAVE_OPENSSL = spawnSync('openssl', ['version']).status === 0
export const MISSING_OPENSSL = 'no openssl on PATH: install Debian\'s openssl (apt-get install -y openssl) to run the cluster TLS tests'

export interface TlsFiles {
  /** The CA's certificate (PEM): what a client must trust. */
  ca: string
  cert: string
  key: string
  clientCert: string
  clientKey: string
}

/** EC keys: quick to make, and every TLS stack in play accepts them. */
const NEW_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']

/** Writes a CA, a server and a client certificate (valid 2 days) into `dir`. */
export async function makeCertificates(dir: string): Promise<TlsFiles> {
  if (!HAVE_OPENSSL) throw new Error(`OUTRIGGER_REQUIRE_REDIS=1 but ${MISSING_OPENSSL}`)
  const f = (name: string) => path.join(dir, name)
  await run('openssl', ['req', '-x509', ...NEW_KEY, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=outrigger test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
  await writeFile(f('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n')
  await writeFile(f('client.ext'), 'extendedKeyUsage=clientAuth\n')
  for (const who of ['server', 'client']) {
    await run('openssl', ['req', ...NEW_KEY, '-keyout', f(`${who}.key`), '-out', f(`${who}.csr`), '-subj', `/CN=${who === 'server' ? 'localhost' : 'outrigger test client'}`])
    await run('openssl', ['x509', '-req', '-in', f(`${who}.csr`), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f(`${who}.crt`), '-days', '2', '-extfile', f(`${who}.ext`)])
  }
  return { ca: f('ca.crt'), cert: f('server.crt'), key: f('server.key'), clientCert: f('client.crt'), clientKey: f('client.key') }
}
