/**
 * The supervisor's service slots (deepstream's idea): `logger`, `storage`, `auth` and
 * `permission`, each with a built-in default that one core plugin may replace.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import type { HostConfig } from '../config/config.js'
import { OutriggerError } from '../errors.js'
import type { Loaded } from '../plugin/load-plugins.js'
import type { StateStore } from '../plugin/state-store.js'
import type { PluginLogger, ServiceProviders } from '../plugin/types.js'
import { LmdbStore } from '../state/lmdb-store.js'
import { MemoryStore } from '../state/memory-store.js'
import { defaultLogger } from './logger.js'

type AuthSlot = NonNullable<ServiceProviders['auth']>
type PermissionSlot = NonNullable<ServiceProviders['permission']>
type SlotName = keyof ServiceProviders
const SLOTS: SlotName[] = ['logger', 'storage', 'auth', 'permission']

export interface SlotOptions {
  app: string
  config: HostConfig
  stateDir: string
  /** The host's own logger, standing in for the default one. */
  logger?: PluginLogger
  /** The host's own store (never closed here), or which default to open. */
  store?: 'lmdb' | 'memory' | StateStore
}

/** The slots in force. `auth` and `permission` fall back to their defaults when a provider fails. */
export class ServiceSlots {
  private readonly defaults: { auth: AuthSlot; permission: PermissionSlot }
  private installed: { auth: AuthSlot; permission: PermissionSlot }

  constructor(
    readonly logger: PluginLogger,
    readonly store: StateStore,
    /** Which plugin provides each slot it replaced. */
    readonly providers: Partial<Record<SlotName, string>>,
    config: HostConfig,
    provided: Pick<ServiceProviders, 'auth' | 'permission'>,
    private readonly closeStore: () => Promise<void>,
  ) {
    this.defaults = { auth: defaultAuth(config.http), permission: defaultPermission }
    this.installed = { auth: provided.auth ?? this.defaults.auth, permission: provided.permission ?? this.defaults.permission }
  }

  get auth(): AuthSlot {
    return this.installed.auth
  }

  get permission(): PermissionSlot {
    return this.installed.permission
  }

  /**
   * A provider whose init failed must not stay installed. `auth` and `permission` go back to the
   * defaults; the logger and the store were handed to every plugin before any init ran, so those
   * cannot be swapped, and the names of such slots are returned for the caller to refuse to run.
   */
  withdraw(plugin: string): SlotName[] {
    const stuck: SlotName[] = []
    for (const slot of SLOTS) {
      if (this.providers[slot] !== plugin) continue
      if (slot === 'auth' || slot === 'permission') this.installed = { ...this.installed, [slot]: this.defaults[slot] }
      else stuck.push(slot)
      delete this.providers[slot]
    }
    return stuck
  }

  close(): Promise<void> {
    return this.closeStore()
  }
}

/**
 * Resolves every slot: the one core plugin that provides it, else the default. Two providers of
 * one slot refuse the start, naming both: picking one silently (the last loaded) would hand, say,
 * authentication to whichever plugin sorts last.
 */
export async function resolveSlots(loaded: Loaded[], opts: SlotOptions): Promise<ServiceSlots> {
  const providers: Partial<Record<SlotName, string>> = {}
  const provided: ServiceProviders = {}
  for (const l of loaded) {
    if (l.kind !== 'core' || !l.def.provides) continue
    for (const slot of SLOTS) {
      const impl = l.def.provides[slot]
      if (!impl) continue
      const other = providers[slot]
      if (other !== undefined) {
        throw new OutriggerError('RIG_ERR_SLOT_CONFLICT', `plugins "${other}" and "${l.found.name}" both provide the ${slot} slot; disable one of them`, { details: { slot, plugins: [other, l.found.name] } })
      }
      providers[slot] = l.found.name
      ;(provided as Record<SlotName, unknown>)[slot] = impl
    }
  }
  const base = opts.logger ?? defaultLogger(opts.app, opts.config.logLevel)
  const logger = provided.logger ? provided.logger(base) : base
  mkdirSync(opts.stateDir, { recursive: true })
  // A plugin that provides storage wins over the host's options, as the operator enabled it.
  const own = !provided.storage && typeof opts.store === 'object'
  const store: StateStore = provided.storage
    ? await provided.storage({ stateDir: opts.stateDir })
    : typeof opts.store === 'object'
      ? opts.store
      : opts.store === 'memory'
        ? new MemoryStore()
        : new LmdbStore(path.join(opts.stateDir, 'store'))
  return new ServiceSlots(logger, store, providers, opts.config, provided, () => (own ? Promise.resolve() : store.close()))
}

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

/** The auth slot's contract: a refusal is an error carrying `status` 401. */
function unauthorized(message: string): OutriggerError & { status: number } {
  return Object.assign(new OutriggerError('RIG_ERR_HTTP_UNAUTHORIZED', message), { status: 401 })
}
