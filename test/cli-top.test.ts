/**
 * `outrigger top` in a real terminal (a tmux pane of the test's own), against a real supervisor:
 * the table is drawn, redrawn in place, changed cells are marked, and Ctrl-C quits with 0.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { Supervisor } from '../src/supervisor/types.js'
import { BIN, startHost, workspace } from './helpers/cli-run.js'
import { until } from './helpers/wait.js'

type Workspace = Awaited<ReturnType<typeof workspace>>

/** A tmux server of the test's own, so the screen `top` draws can be read back. */
function tmux(...args: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile('tmux', ['-L', `rig-top-${process.pid}`, ...args], (err, stdout) => resolve({ code: err ? 1 : 0, stdout }))
  })
}

describe('top', () => {
  let ws: Workspace
  let sup: Supervisor
  before(async () => {
    ws = await workspace(['greeter', 'flaky'])
    sup = await startHost('topview', ws)
  })
  after(async () => {
    await tmux('kill-server')
    await sup.stop()
    await ws.cleanup()
  })

  it('redraws in place in a terminal, highlights changed cells and quits on Ctrl-C', async () => {
    const exitFile = path.join(ws.root, 'top.exit')
    // The shell traps SIGINT (rather than dying of it) so it can record top's own exit code.
    const cmd = `trap : INT; OUTRIGGER_RUNTIME_DIR='${ws.runtimeDir}' '${process.execPath}' '${BIN}' --app topview top --interval 200; echo $? > '${exitFile}'`
    const started = await tmux('new-session', '-d', '-s', 'top', '-x', '180', '-y', '40', 'sh', '-c', cmd)
    assert.equal(started.code, 0, 'tmux starts')
    const screen = async (escapes = false): Promise<string> => (await tmux('capture-pane', '-p', ...(escapes ? ['-e'] : []), '-t', 'top')).stdout

    await until('top to draw the table', async () => /greeter@1\.0\.0\s+core\s+running/.test(await screen()))
    const first = await screen()
    assert.match(first, /^topview\s+v\d/m)
    assert.match(first, /PLUGIN\s+TYPE\s+STATE\s+RESTARTS\s+QUEUE\s+RECV/)
    assert.match(first, /flaky@1\.0\.0\s+thread x1\s+running/)

    // Events change the greeter's counters: the next frames mark those cells in inverse video.
    let sent = 0
    await until('a changed cell in inverse video', async () => {
      sup.emit('greet:tick', { times: 1 })
      sent++
      const raw = await screen(true)
      const row = raw.split('\n').find((l) => l.includes('greeter@1.0.0')) ?? ''
      return /\x1b\[[0-9;]*7m\d+/.test(row)
    })
    assert.ok(sent > 0)
    // Redrawn in place: however many frames went by, the screen holds one table.
    const later = await screen()
    assert.equal(later.match(/^PLUGIN /gm)?.length, 1)

    await tmux('send-keys', '-t', 'top', 'C-c')
    await until('top to exit', () => existsSync(exitFile) && readFileSync(exitFile, 'utf8').trim() !== '')
    assert.equal(readFileSync(exitFile, 'utf8').trim(), '0')
  })
})
