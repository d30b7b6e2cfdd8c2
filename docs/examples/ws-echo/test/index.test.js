// Runs the plugin's action on its own: `npm test`. The host's test suite runs the socket.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import plugin from '../index.js'

test('echo.say answers what it was sent', () => {
  assert.deepEqual(plugin.controllers.echo.say({ body: { text: 'hi' } }), { said: { text: 'hi' } })
})
