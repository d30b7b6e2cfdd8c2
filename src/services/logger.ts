import { pino } from 'pino'
import type { PluginLogger } from '../plugin/types.js'
import { stdoutSink } from './log-output.js'

/**
 * The default logger slot: pino to stdout (one JSON line per entry), named after the app. Lines
 * go through the bounded stdout sink, so a stalled or vanished reader never blocks or hangs the
 * host; what it cannot take is dropped and counted (`logs.dropped`).
 */
export function defaultLogger(app: string, level: string): PluginLogger {
  const sink = stdoutSink()
  return pino({ name: app, level }, { write: (line: string) => void sink.write(line) }) as unknown as PluginLogger
}
