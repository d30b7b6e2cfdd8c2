import { pino } from 'pino'
import type { PluginLogger } from '../plugin/types.js'

/** The default logger slot: pino to stdout (one JSON line per entry), named after the app. */
export function defaultLogger(app: string, level: string): PluginLogger {
  return pino({ name: app, level }) as unknown as PluginLogger
}
