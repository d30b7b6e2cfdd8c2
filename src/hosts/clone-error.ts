import { errorMessage, OutriggerError } from '../errors.js'

/** True for the error a postMessage or an advanced-serialization send throws on uncloneable data. */
export function isCloneError(err: unknown): boolean {
  return err instanceof Error && (err.name === 'DataCloneError' || / could not be cloned\.?$/.test(err.message))
}

export function notCloneable(what: string, cause: unknown): OutriggerError {
  return new OutriggerError('RIG_ERR_NOT_CLONEABLE', `${what} cannot be structured-cloned (a function, symbol or similar): ${errorMessage(cause)}`, { cause })
}
