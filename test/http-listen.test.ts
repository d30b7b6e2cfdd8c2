import assert from 'node:assert/strict'
import { mkdir, readdir } from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { OutriggerError } from '../src/errors.js'
import { PluginDir, core, worker } from './helpers/plugins.js'
import { alive, until } from './helpers/wait.js'

describe('an HTTP port that cannot be had', () => {
  let dir: PluginDir
  let holder: net.Server
  beforeEach(async () => {
    dir = await PluginDir.create()
    holder = net.createServer()
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve))
  })
  afterEach(async () => {
    await new Promise((resolve) => holder.close(resolve))
    await dir.remove()
  })

  it('fails the start with RIG_ERR_HTTP_LISTEN naming the port and the fix, and leaves nothing running', async () => {
    const port = (holder.address() as net.AddressInfo).port
    await dir.add('calc', core('calc'), 'export default { functions: { pid: () => process.pid } }')
    // The worker leaves its pid behind, to check that the failed start did not leave it running.
    const pids = path.join(dir.root, 'pids')
    await mkdir(pids)
    await dir.add('job', worker('job', { isolation: 'process' }), `import { writeFileSync } from 'node:fs'
export default { init() { writeFileSync(${JSON.stringify(pids)} + '/' + process.pid, '') }, functions: { pid: () => process.pid } }`)
    const err = await dir.start({ http: { port } }).catch((e: OutriggerError) => e)
    assert.ok(err instanceof OutriggerError, String(err))
    assert.equal(err.code, 'RIG_ERR_HTTP_LISTEN')
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port} is already in use by another process; pick another port with --port, PORT or http\\.port`))
    const first = (await readdir(pids)).map(Number)
    assert.equal(first.length, 1, 'the worker had started before the HTTP API tried to listen')
    await until('the failed start to leave no process worker behind', () => !alive(first[0]))
    // Stopped, not half-started: the same folder (and state) starts again.
    const sup = await dir.start({ http: { port: 0 } })
    const child = await sup.call<number>('job.pid')
    assert.notEqual(child, process.pid)
    await sup.stop()
    await until('the process worker to exit with its supervisor', () => !alive(child))
  })
})
