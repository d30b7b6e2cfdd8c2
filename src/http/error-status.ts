// The mapping is shared by every entry point (src/protocol/); HTTP keeps this path for its importers.
export { clientStatus, mapError, type MappedError } from '../protocol/error-status.js'
