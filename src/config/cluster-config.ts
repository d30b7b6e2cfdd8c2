import { z } from 'zod'
import { timerMs } from '../manifest/schema.js'

const pemPath = (what: string) => z.string().min(1, 'a path to a PEM file').describe(`${what} (PEM file; a relative path is resolved against the config file's folder)`)

/** `cluster.tls`: what a `rediss://` connection trusts and presents beyond the system's defaults. */
export const ClusterTlsSchema = z
  .object({
    ca: pemPath("The CA certificate(s) that signed the Redis server's certificate, trusted in addition to the system's CAs (for a private CA)").optional(),
    cert: pemPath('A client certificate, for a Redis that requires one (tls-auth-clients yes); with `key`').optional(),
    key: pemPath("The client certificate's private key; with `cert`").optional(),
    servername: z.string().min(1).optional().describe("The host name the server's certificate must name, when it differs from the URL's host (also sent as SNI)"),
  })
  .strict()
  .refine((t) => !t.cert === !t.key, { message: '`cert` and `key` go together: give both for a client certificate, or neither' })

/** `cluster` in the host config: where the cluster's Redis is, its name, this node's id, and how its streams are kept small. */
export const ClusterConfigSchema = z
  .object({
    redis: z
      .string()
      .regex(/^rediss?:\/\//, 'a Redis URL such as "redis://127.0.0.1:6379" (or "rediss://…" for TLS; user and password go in the URL)')
      .describe('Redis URL: redis://[user:password@]host:port[/db], or rediss:// for TLS'),
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'letters, digits, ".", "-" or "_", at most 64')
      .default('outrigger')
      .describe('The cluster: every key is under outrigger:<name>:'),
    nodeId: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, 'letters, digits, ".", "-" or "_", at most 128')
      .optional()
      .describe('This supervisor in the cluster (its consumer name); default <hostname>-<pid>. A stable id lets a restarted node take back what it left pending'),
    beatMs: timerMs().min(50).default(1000).describe('How often this node writes its beat (and runs a round: partitions, membership, reclaims)'),
    tls: ClusterTlsSchema.optional().describe('TLS options of a rediss:// connection: a private CA to trust, a client certificate, the expected server name (docs/cluster.md)'),
    trimMs: timerMs()
      .min(100)
      .default(5000)
      .describe('How often the streams of each cluster plugin are trimmed of the entries every consumer group has delivered and acked (once per period cluster-wide)'),
    deadMaxLen: z
      .number()
      .int()
      .min(1)
      .default(10000)
      .describe("Dead letters kept per cluster plugin (approximately: Redis trims whole nodes of the stream); beyond it the oldest are dropped, and counted in status --cluster"),
  })
  .strict()
  // Certificates given for a plain-text URL would silently mean nothing (or, for ioredis, TLS on
  // a port that speaks plain text): say which scheme is wanted.
  .refine((c) => !c.tls || c.redis.startsWith('rediss://'), { path: ['redis'], message: 'a "rediss://" URL: cluster.tls is set, and its certificates are only used over TLS (redis:// is plain text)' })

export type ClusterConfig = z.output<typeof ClusterConfigSchema>

/** The URL with its password (and an ACL user's password) replaced by `***`. */
export function redact(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    return u.toString().replace(/\/$/, '')
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@')
  }
}

/** A config as its errors may quote it: `cluster.redis` without its password. */
export function withoutSecrets(raw: unknown): unknown {
  const c = (raw as { cluster?: { redis?: unknown } } | null)?.cluster
  if (!c || typeof c.redis !== 'string') return raw
  return { ...(raw as object), cluster: { ...c, redis: redact(c.redis) } }
}
