// The public face of Outrigger: what a host application and a plugin author import.
export { startSupervisor } from './start.js'
export { definePlugin } from './plugin/types.js'
export { OutriggerError, ErrorCodes, isOutriggerError } from './errors.js'
export type { ErrorCode, SerializedError } from './errors.js'
export type {
  ActionFn, ActionRequest, FunctionFn, HookFn, HookMeta, LifecycleFn, PipeFn, PluginContext, PluginDefinition, PluginFactory,
  PluginLogger, ServiceProviders, StateApi, StateApi as PluginStateApi,
} from './plugin/types.js'
export type { StateStore } from './plugin/state-store.js'
export type { StartedSupervisor as Supervisor, StartedSupervisor } from './start.js'
export type { DeadLetter, ReloadResult, SupervisorOptions } from './supervisor/types.js'
export type { LetterSelection, PurgeResult, ReplayHalt, ReplayResult } from './delivery/dead-letters.js'
export type { HostConfig, HostConfigInput } from './config/config.js'
export type { Manifest, WorkerSettings } from './manifest/schema.js'
export type * from './supervisor/status-types.js'
export type { Envelope, EnvelopeError } from './protocol/envelope.js'
export type { ExecuteRequest } from './protocol/execute.js'
export type { CoordinationApi, CoordinationHandler, CoordinationMap, LogEntry, Peer, Proposal, Replica } from './coordination/types.js'
export type { LogSnapshot, LogStore } from './coordination/log-store.js'
