// @ts-check
/** Who listens to which events: patterns compiled once, matched once per event, not per client. */

/** Event names and patterns: `scope:action`, with `*` anywhere as a wildcard. */
const PATTERN = /^[A-Za-z0-9_.:/*-]{1,256}$/

/**
 * A pattern as a subscription takes it, or a 400 naming what is wrong.
 * @param {unknown} pattern
 * @returns {string}
 */
export function checkPattern(pattern) {
  if (typeof pattern === 'string' && PATTERN.test(pattern)) return pattern
  throw Object.assign(new Error(`a subscription is an event pattern such as "orders:*": 1–256 characters of letters, digits, "_ . : / -" and "*" (found ${JSON.stringify(pattern) ?? 'nothing'})`), {
    status: 400,
    code: 'RIG_ERR_REQUEST_INVALID',
  })
}

/** @param {string} pattern */
function compile(pattern) {
  const re = new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\/-]/g, '\\$&').replaceAll('*', '.*')}$`)
  return (/** @type {string} */ event) => re.test(event)
}

/**
 * @typedef {{ deliver(frame: string): void }} Listener
 */
export class Subscriptions {
  /** @type {Map<string, { matches: (event: string) => boolean, listeners: Set<Listener> }>} */
  #byPattern = new Map()

  get size() {
    let n = 0
    for (const p of this.#byPattern.values()) n += p.listeners.size
    return n
  }

  /** @param {Listener} who @param {string} pattern */
  add(who, pattern) {
    let p = this.#byPattern.get(pattern)
    if (!p) this.#byPattern.set(pattern, (p = { matches: compile(pattern), listeners: new Set() }))
    p.listeners.add(who)
  }

  /** @param {Listener} who @param {string} pattern */
  remove(who, pattern) {
    const p = this.#byPattern.get(pattern)
    if (!p) return
    p.listeners.delete(who)
    if (p.listeners.size === 0) this.#byPattern.delete(pattern)
  }

  /** @param {Listener} who */
  drop(who) {
    for (const pattern of [...this.#byPattern.keys()]) this.remove(who, pattern)
  }

  /**
   * Sends an event to each listener once (the first of its patterns that matches names the
   * subscription). The payload is serialised once for everyone; one that JSON cannot carry is
   * skipped (and counted), as it could not reach anyone.
   * @param {string} event @param {unknown} payload
   * @param {{ eventsSent: number, eventsUnsendable?: number }} counts
   */
  publish(event, payload, counts) {
    if (this.#byPattern.size === 0) return
    /** @type {string | undefined} */
    let body
    const told = new Set()
    for (const [pattern, p] of this.#byPattern) {
      if (!p.matches(event)) continue
      if (body === undefined) {
        try {
          body = JSON.stringify(payload ?? null)
        } catch {
          counts.eventsUnsendable = (counts.eventsUnsendable ?? 0) + 1
          return
        }
      }
      const frame = `{"event":${JSON.stringify(event)},"subscription":${JSON.stringify(pattern)},"payload":${body}}`
      for (const who of p.listeners) {
        if (told.has(who)) continue
        told.add(who)
        who.deliver(frame)
        counts.eventsSent++
      }
    }
  }
}
