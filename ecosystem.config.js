// pm2 runs the supervisor with this file: `npx pm2 start ecosystem.config.js` (docs/production.md).
// CommonJS on purpose: pm2 loads it with `require`, so the root package stays CommonJS-typed.
'use strict'
const fs = require('node:fs')
const path = require('node:path')

// The host config the supervisor will run with: $OUTRIGGER_CONFIG, else outrigger.config.json
// beside this file. Absent, the supervisor runs with the built-in defaults.
const configFile = path.resolve(__dirname, process.env.OUTRIGGER_CONFIG || 'outrigger.config.json')
const config = readConfig(configFile)

// The built-in defaults of the same timeouts (src/config/config.ts).
const DEFAULTS = { drainMs: 10000, closeMs: 5000, initMs: 10000, whenReadyMs: 10000 }
const timeouts = { ...DEFAULTS, ...pickTimeouts(config && config.timeouts) }
// A plugin may have its own, longer close limit (plugins.<name>.timeouts.closeMs): the shutdown
// must wait for the longest one.
for (const own of Object.values((config && config.plugins) || {})) {
  const closeMs = pickTimeouts(own && own.timeouts).closeMs
  if (closeMs > timeouts.closeMs) timeouts.closeMs = closeMs
}
const name = process.env.OUTRIGGER_PM2_NAME || 'outrigger'

module.exports = {
  apps: [
    {
      name,
      script: path.join(__dirname, 'bin', 'outrigger.cjs'),
      // The pm2 name is also the supervisor's app name: two apps renamed apart get a control
      // socket each, and `outrigger --app <name> status` finds the one pm2 calls <name>.
      args: ['--app', name, 'start', ...(config ? ['--config', configFile] : [])],
      cwd: __dirname,
      // One supervisor per host: it owns the control socket, the HTTP port and the state store,
      // and scales through its own worker instances, not through pm2's cluster mode.
      exec_mode: 'fork',
      instances: 1,
      // pm2 shows the app `online` only once the supervisor says `ready`, which it does after
      // every plugin started or failed as the config allows (src/pm2/attach.ts). listen_timeout is
      // pm2's give-up time for that message: above the real start time, which is bounded by the
      // plugins' init and whenReady limits (a start here takes about a second; the margin covers
      // a slow machine and process workers booting in parallel).
      wait_ready: true,
      listen_timeout: timeouts.initMs + timeouts.whenReadyMs + 10000,
      // On stop, restart and reload (a restart in fork mode) pm2 sends SIGINT to the whole process
      // tree and SIGKILLs what is left after kill_timeout. Process workers ignore SIGINT and are
      // drained by the supervisor, which needs the drain deadline, then the plugins' close, then
      // the workers' exit: so kill_timeout is derived from the same config and cannot drift below it.
      kill_timeout: timeouts.drainMs + timeouts.closeMs + 5000,
      // The default; said here because the shutdown depends on it: the tree kill records the
      // workers' pids, and pm2 waits for all of them (not just the supervisor) before moving on.
      treekill: true,
      // A supervisor that crashes at boot (bad config, port in use) restarts after 100 ms, then
      // ever longer (up to 15 s), instead of pm2's tight restart loop; the delay resets once it
      // has stayed up for 30 s.
      exp_backoff_restart_delay: 100,
      // The supervisor's own RSS only: pm2 measures the main pid, not the process workers, which
      // have their own per-plugin limit (worker.limits.memoryMb) and are restarted by the
      // supervisor. Generous on purpose: a host restart drains and restarts every plugin, so it
      // must be a last resort against a leak, not a routine (see DESIGN, "Lessons").
      max_memory_restart: '1G',
      // pm2 prefixes every log line with its arrival time (pino's lines also carry their own
      // epoch `time`). Not `time: true`: pm2 turns that into a fixed format without ms or zone.
      log_date_format: 'YYYY-MM-DDTHH:mm:ss.SSSZ',
      env: {
        NODE_ENV: 'production',
      },
    },
  ],
}

function readConfig(file) {
  let text
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (err) {
    if (err.code === 'ENOENT' && !process.env.OUTRIGGER_CONFIG) return undefined
    throw new Error(`ecosystem.config.js: cannot read the host config ${file}: ${err.message}`)
  }
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new Error(`ecosystem.config.js: ${file} is not valid JSON: ${err.message}`)
  }
}

// Only positive integers override a default; the supervisor itself rejects anything else at start.
function pickTimeouts(t) {
  const out = {}
  for (const key of Object.keys(DEFAULTS)) {
    if (t && Number.isInteger(t[key]) && t[key] > 0) out[key] = t[key]
  }
  return out
}
