/** A throwaway redis-server for the benchmarks that need one: a free loopback port, no persistence. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'

export const HAVE_REDIS = spawnSync('redis-server', ['--version']).status === 0

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port
      srv.close(() => resolve(port))
    })
  })
}

/** Starts redis-server without persistence (a benchmark keeps nothing); a string says why it did not. */
export async function startRedis(): Promise<{ port: number; proc: ChildProcess } | string> {
  const port = await freePort()
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'], { stdio: ['ignore', 'pipe', 'pipe'] })
  return new Promise((resolve) => {
    let out = ''
    const deadline = setTimeout(() => resolve(`redis-server did not become ready: ${out.slice(-200)}`), 10_000)
    proc.once('error', (err) => {
      clearTimeout(deadline)
      resolve(`redis-server is missing (${(err as NodeJS.ErrnoException).code ?? err.message}); install Debian's redis-server package to run this row`)
    })
    proc.stdout?.on('data', (d) => {
      out += d
      if (out.includes('Ready to accept connections')) {
        clearTimeout(deadline)
        resolve({ port, proc })
      }
    })
  })
}

export async function stopRedis(proc: ChildProcess): Promise<void> {
  proc.kill('SIGTERM')
  await new Promise((r) => (proc.exitCode !== null ? r(undefined) : proc.once('exit', r)))
}
