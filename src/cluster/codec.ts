/**
 * A stream entry's body: the event, its subscription and its payload in one v8 serialization,
 * the structured clone the worker IPC uses, so a payload that reaches a local instance reaches
 * one on another node the same way.
 */
import { deserialize, serialize } from 'node:v8'

export const FIELD = 'd'

export function encode(event: string, subscription: string, payload: unknown): Buffer {
  return serialize([event, subscription, payload])
}

export function decode(body: Buffer): { event: string; subscription: string; payload: unknown } {
  const [event, subscription, payload] = deserialize(body) as [string, string, unknown]
  return { event, subscription, payload }
}

