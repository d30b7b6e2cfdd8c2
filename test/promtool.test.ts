/**
 * `/metrics` passes `promtool check metrics`, the Prometheus project's own linter, when promtool is
 * installed (`.ci/run` installs it); the two rules it once broke are also checked without it.
 */
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { after, before, describe, it } from 'node:test'
import { startHttpHost, type HttpHost } from './helpers/http-host.js'
import { until } from './helpers/wait.js'
import { parseProm } from './helpers/prom-text.js'

const promtool = spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0

/** Runs `promtool check metrics` on the text; resolves with its exit code and what it said. */
function promtoolCheck(text: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, out }))
    child.stdin.end(text)
  })
}

describe('/metrics lint', () => {
  let host: HttpHost
  let text: string
  before(async () => {
    host = await startHttpHost(['shop', 'tally'])
    const tally = () => host.sup.status().plugins.find((p) => p.name === 'tally')!
    await until('the tally worker to run', () => tally().state === 'running')
    // Some processed and some failed events, so every per-plugin series and the histogram have samples.
    for (let n = 1; n <= 9; n++) host.sup.emit('tally:add', { n })
    await until('the worker to settle every event', () => tally().events.processed + tally().events.failed === 9)
    text = await (await fetch(host.url + '/metrics')).text()
  })
  after(() => host.stop())

  it('names no gauge *_total and puts a quantile label only on summaries', () => {
    const { types, samples } = parseProm(text)
    assert.ok(types.size > 20, 'the default process metrics are there too')
    const badTotals = [...types].filter(([name, type]) => name.endsWith('_total') && type !== 'counter').map(([name]) => name)
    assert.deepEqual(badTotals, [])
    const family = (sample: string) => [...types.keys()].find((t) => sample === t || sample.startsWith(`${t}_`)) ?? sample
    const badQuantiles = samples.filter((s) => 'quantile' in s.labels && types.get(family(s.name)) !== 'summary').map((s) => s.name)
    assert.deepEqual([...new Set(badQuantiles)], [])
    assert.ok(types.has('outrigger_nodejs_active_handles'), 'active handles by type are kept')
  })

  it('passes promtool check metrics', { skip: promtool ? false : 'promtool is not installed (Debian: apt-get install --no-install-recommends prometheus)' }, async () => {
    const r = await promtoolCheck(text)
    assert.equal(r.out.trim(), '', 'promtool has no complaint')
    assert.equal(r.code, 0)
  })
})
