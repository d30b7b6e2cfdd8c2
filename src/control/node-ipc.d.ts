// node-ipc 12.0.0 ships no types; this declares the small part the control channel uses.
declare module 'node-ipc' {
  import type { Socket, Server as NetServer } from 'node:net'

  interface IpcConfig {
    id: string
    silent: boolean
    unlink: boolean
    retry: number
    maxRetries: number | false
    stopRetrying: boolean
    maxConnections: number
    delimiter: string
    encoding: BufferEncoding
    rawBuffer: boolean
    logger: (msg: string) => void
  }

  interface IpcServer {
    server: NetServer | false
    sockets: Socket[]
    on(type: string, handler: (...args: any[]) => void): this
    off(type?: string, handler?: unknown): this
    emit(socket: Socket, type: string, data: unknown): void
    start(): void
    stop(): void
  }

  interface IpcClient {
    socket: Socket | false
    on(type: string, handler: (...args: any[]) => void): this
    off(type?: string, handler?: unknown): this
    emit(type: string, data: unknown): void
  }

  export class IPCModule {
    config: IpcConfig
    of: Record<string, IpcClient>
    server: IpcServer | false
    serve(path: string, callback?: () => void): void
    connectTo(id: string, path: string, callback?: () => void): void
    disconnect(id: string): void
  }
  const singleton: IPCModule
  export default singleton
}
