import { OutriggerError } from '../errors.js'
import type { StateStore } from '../plugin/state-store.js'
import type { DeadLetter } from '../supervisor/types.js'

/** A dead letter's id: `<ms since the epoch, 14 digits>-<pid>-<sequence, 8 digits>`. */
export const DEAD_LETTER_ID = /^\d{14}-\d{1,10}-\d{8}$/

/**
 * An ISO 8601 time with a zone (`2026-11-22T14:05:00Z`, `…+01:00`), or a bare date (midnight
 * UTC). A time without a zone is refused: read as local time on one machine and UTC on another,
 * it would purge different letters.
 */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2}))?$/i

/** The instant an ISO time names, or undefined when it is not one (see {@link ISO_TIME}). */
export function parseIsoTime(text: string): Date | undefined {
  if (!ISO_TIME.test(text)) return undefined
  const d = new Date(text)
  return Number.isNaN(d.getTime()) ? undefined : d
}

/** Which letters a replay or purge takes: the given ids, those stored before a time, or all; oldest first. */
export interface LetterSelection {
  ids?: string[]
  /** An ISO time (purge only). */
  before?: string
  /** At most this many, the oldest first (replay only). */
  limit?: number
}

/** Most ids one request may name (a request is one control frame or one HTTP body). */
export const MAX_SELECTED_IDS = 10_000

/** How the fields of a selection are called where it came from (CLI flags or body fields). */
export type SelectionNames = Record<'ids' | 'limit' | 'before', string>
const FIELD_NAMES: SelectionNames = { ids: 'ids', limit: 'limit', before: 'before' }

/**
 * Checks a selection for `replay` (ids, limit) or `purge` (ids or before), from any caller: the
 * library, a control request, an HTTP body. Throws RIG_ERR_DEAD_LETTER_SELECTION saying which
 * field is wrong, named as the caller knows it.
 */
export function checkSelection(input: unknown, op: 'replay' | 'purge', names: SelectionNames = FIELD_NAMES): LetterSelection {
  const bad = (why: string) => new OutriggerError('RIG_ERR_DEAD_LETTER_SELECTION', `dead-letters ${op}: ${why}`)
  if (input === null || input === undefined) return {}
  if (typeof input !== 'object' || Array.isArray(input)) throw bad('expected an object with ' + (op === 'replay' ? '"ids" and/or "limit"' : '"ids" or "before"'))
  const allowed = op === 'replay' ? ['ids', 'limit'] : ['ids', 'before']
  const sel = input as Record<string, unknown>
  for (const [k, v] of Object.entries(sel)) {
    if (v !== undefined && !allowed.includes(k)) throw bad(`${k in names ? names[k as keyof SelectionNames] : `"${k}"`} is not an option of ${op} (it takes ${allowed.map((a) => names[a as keyof SelectionNames]).join(', ')})`)
  }
  const out: LetterSelection = {}
  if (sel.ids !== undefined) {
    if (!Array.isArray(sel.ids) || sel.ids.length === 0) throw bad(`${names.ids} needs at least one dead-letter id`)
    if (sel.ids.length > MAX_SELECTED_IDS) throw bad(`${names.ids}: at most ${MAX_SELECTED_IDS} ids at once`)
    for (const id of sel.ids) {
      if (typeof id !== 'string' || !DEAD_LETTER_ID.test(id)) {
        throw bad(`${names.ids} ${JSON.stringify(id)} is not a dead-letter id (ids look like 01763820000000-4242-00000007; \`dead-letters list\` shows them)`)
      }
    }
    out.ids = [...new Set(sel.ids as string[])]
  }
  if (sel.limit !== undefined) {
    if (typeof sel.limit !== 'number' || !Number.isSafeInteger(sel.limit) || sel.limit < 1) throw bad(`${names.limit} must be a whole number of at least 1, not ${JSON.stringify(sel.limit)}`)
    out.limit = sel.limit
  }
  if (sel.before !== undefined) {
    if (typeof sel.before !== 'string' || !parseIsoTime(sel.before)) {
      throw bad(`${names.before} ${JSON.stringify(sel.before)} is not an ISO 8601 time with a zone (e.g. 2026-11-22T14:05:00Z, or a date such as 2026-11-22 for midnight UTC)`)
    }
    if (out.ids) throw bad(`give either ${names.ids} or ${names.before}, not both`)
    out.before = sel.before
  }
  return out
}

/** Why a replay ended before every selected letter went. */
export type ReplayHalt = 'queue-full' | 'plugin-stopped'

export interface ReplayResult {
  plugin: string
  /** Letters whose event the queue accepted; they are no longer dead letters. */
  replayed: number
  /** The plugin's dead letters still stored afterwards (those not selected, and those refused). */
  left: number
  /** Null when every selected letter was replayed. */
  halted: ReplayHalt | null
}

export interface PurgeResult {
  plugin: string
  purged: number
  left: number
}

/**
 * Dead letters live in the state store (the durable one by default), so they outlive the
 * supervisor. Keys sort by time, so `list` returns them oldest first.
 */
export class DeadLetters {
  private readonly ns: string
  private seq = 0
  /** Replays and purges run one at a time: two replays at once would send one letter twice. */
  private turn: Promise<unknown> = Promise.resolve()

  constructor(private readonly store: StateStore, private readonly plugin: string) {
    this.ns = `outrigger:dead-letters:${plugin}`
  }

  async add(letter: Omit<DeadLetter, 'id' | 'plugin' | 'at'>): Promise<void> {
    const at = new Date()
    const id = `${at.getTime().toString().padStart(14, '0')}-${process.pid}-${(this.seq++).toString().padStart(8, '0')}`
    const full: DeadLetter = { id, plugin: this.plugin, at: at.toISOString(), ...letter }
    await this.store.put(this.ns, id, full)
  }

  async list(): Promise<DeadLetter[]> {
    return (await this.store.list(this.ns)).map(([, v]) => v as DeadLetter)
  }

  async remove(id: string): Promise<void> {
    await this.store.delete(this.ns, id)
  }

  /**
   * Hands the selected letters, oldest first, to `offer` until it refuses one. A letter is removed
   * only once its event was accepted, so a refusal (a full queue, a stopped plugin) loses nothing:
   * the rest stay dead letters. Should removal fail after acceptance, the letter stays and may
   * be delivered twice, which at-least-once allows; it is never lost.
   */
  async replay(input: LetterSelection, offer: (letter: DeadLetter) => boolean, halted: () => ReplayHalt): Promise<ReplayResult> {
    const sel = checkSelection(input, 'replay')
    return this.inTurn(async () => {
      const all = await this.list()
      let chosen = this.select(all, sel)
      if (sel.limit !== undefined) chosen = chosen.slice(0, sel.limit)
      const accepted: string[] = []
      let why: ReplayHalt | null = null
      // No await in this loop: the queue's room is read and taken in one go.
      for (const l of chosen) {
        if (!offer(l)) {
          why = halted()
          break
        }
        accepted.push(l.id)
      }
      await this.removeAll(accepted)
      return { plugin: this.plugin, replayed: accepted.length, left: all.length - accepted.length, halted: why }
    })
  }

  /** Deletes the selected letters (by id, stored before `sel.before`, or all). */
  async purge(input: LetterSelection): Promise<PurgeResult> {
    const sel = checkSelection(input, 'purge')
    return this.inTurn(async () => {
      const all = await this.list()
      const chosen = this.select(all, sel)
      await this.removeAll(chosen.map((l) => l.id))
      return { plugin: this.plugin, purged: chosen.length, left: all.length - chosen.length }
    })
  }

  /** The letters a selection names, oldest first; unknown ids refuse the whole request. */
  private select(all: DeadLetter[], sel: LetterSelection): DeadLetter[] {
    if (sel.ids !== undefined) {
      const wanted = new Set(sel.ids)
      const chosen = all.filter((l) => wanted.has(l.id))
      if (chosen.length < wanted.size) {
        const known = new Set(chosen.map((l) => l.id))
        const missing = [...wanted].filter((id) => !known.has(id))
        throw new OutriggerError(
          'RIG_ERR_UNKNOWN_DEAD_LETTER',
          `plugin "${this.plugin}" has no dead letter ${missing.map((id) => `"${id}"`).join(', ')}; nothing was done (\`outrigger dead-letters list ${this.plugin}\` shows the ids)`,
          { details: { plugin: this.plugin, missing } },
        )
      }
      return chosen
    }
    if (sel.before !== undefined) {
      const before = parseIsoTime(sel.before)!.getTime()
      return all.filter((l) => Date.parse(l.at) < before)
    }
    return all
  }

  private async removeAll(ids: string[]): Promise<void> {
    await Promise.all(ids.map((id) => this.store.delete(this.ns, id)))
  }

  private inTurn<T>(op: () => Promise<T>): Promise<T> {
    const next = this.turn.then(op, op)
    this.turn = next.catch(() => undefined)
    return next
  }
}
