/**
 * Connections to the cluster's Redis: ioredis clients that reconnect with a doubling backoff, and
 * a redacted URL for anything printed (status, logs, errors never show a password).
 */
import { Redis, type RedisOptions } from 'ioredis'
import { redact } from '../config/cluster-config.js'
import { tlsFailure, type RedisTls } from './tls.js'

export { redact }

/** The longest wait between two reconnect attempts. */
export const MAX_BACKOFF_MS = 2000

/**
 * Reconnect waits: 100 ms doubling to MAX_BACKOFF_MS; never given up (an outage may last). Kept
 * short: after an outage every node must be back and beating before the others judge it silent.
 */
export function backoffMs(attempt: number): number {
  return Math.min(MAX_BACKOFF_MS, 100 * 2 ** Math.min(attempt - 1, 6))
}

/** What the status shows of a connection. */
export interface LinkState {
  url: string
  connected: boolean
  /** Reconnect attempts since the last time it was up. */
  retries: number
  /** Next reconnect in this many ms (0 while up). */
  retryInMs: number
  lastError: string | null
  /** How many times the connection dropped. */
  outages: number
}

/**
 * One Redis link. `blocking` clients are for XREADGROUP … BLOCK (a blocked client holds its
 * socket), the others for everything else. Commands fail at once while the link is down
 * (no offline queue): the callers decide what an outage means (the producer journals, the
 * consumer waits), so nothing waits unseen in a client's memory.
 */
export class RedisLink {
  readonly client: Redis
  private readonly st: LinkState
  private nextAt = 0

  /** `tls` is required, if undefined: every connection to the cluster's Redis must carry `cluster.tls`. */
  constructor(url: string, opts: { name: string; tls: RedisTls | undefined; onUp?: () => void; onDown?: (err: string | null) => void }) {
    this.st = { url: redact(url), connected: false, retries: 0, retryInMs: 0, lastError: null, outages: 0 }
    const options: RedisOptions = {
      connectionName: opts.name,
      // RESP2: the replies' shapes stream-ops.ts reads (ioredis 6 speaks RESP3 by default, where
      // XREADGROUP answers a map).
      protocol: 2,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      // Resending would repeat a command that may have run; the callers retry what they need.
      autoResendUnfulfilledCommands: false,
      // Only for rediss:// (the config refuses cluster.tls otherwise): given a `tls` object,
      // ioredis would speak TLS whatever the URL says.
      ...(opts.tls && url.startsWith('rediss://') ? { tls: opts.tls } : {}),
      retryStrategy: (attempt) => {
        this.st.retries = attempt
        const wait = backoffMs(attempt)
        this.nextAt = Date.now() + wait
        return wait
      },
    }
    this.client = new Redis(url, options)
    this.client.on('ready', () => {
      this.st.connected = true
      this.st.retries = 0
      opts.onUp?.()
    })
    this.client.on('close', () => {
      if (this.st.connected) this.st.outages++
      const was = this.st.connected
      this.st.connected = false
      if (was) opts.onDown?.(this.st.lastError)
    })
    // ioredis reports every failed attempt here; the message never carries the URL's password.
    // A TLS failure is shown with its fix.
    this.client.on('error', (err: Error) => {
      this.st.lastError = tlsFailure(err, url.startsWith('rediss://'))?.message ?? err.message
    })
  }

  get up(): boolean {
    return this.client.status === 'ready'
  }

  state(): LinkState {
    return { ...this.st, retryInMs: this.st.connected ? 0 : Math.max(0, this.nextAt - Date.now()) }
  }

  /** Resolves once the link is up again, or false after `ms`. */
  ready(ms: number): Promise<boolean> {
    if (this.up) return Promise.resolve(true)
    return new Promise((resolve) => {
      const on = () => {
        clearTimeout(t)
        resolve(true)
      }
      const t = setTimeout(() => {
        this.client.off('ready', on)
        resolve(false)
      }, ms)
      this.client.once('ready', on)
    })
  }

  /**
   * The first connection: true once up, false when still down after `ms`. Rejects at once when
   * the server's certificate is refused: every retry would fail the same way until the config
   * changes, so the start should say so rather than wait in silence.
   */
  connect(ms: number): Promise<boolean> {
    if (this.up) return Promise.resolve(true)
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(t)
        this.client.off('ready', up)
        this.client.off('error', failed)
      }
      const up = () => {
        done()
        resolve(true)
      }
      const failed = (err: Error) => {
        const tls = tlsFailure(err)
        if (!tls?.certificate) return
        done()
        reject(new Error(tls.message))
      }
      const t = setTimeout(() => {
        done()
        resolve(false)
      }, ms)
      this.client.on('ready', up)
      this.client.on('error', failed)
    })
  }

  close(): void {
    this.client.disconnect(false)
  }
}
