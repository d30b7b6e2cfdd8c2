/**
 * What to do about each error code, in a person's words. `docs/reference.md` lists every code of
 * `src/errors.ts` with its meaning and this advice (`npm run docs` writes that part of the page,
 * and a test fails when the committed page differs). The type makes a new code without advice
 * fail to compile.
 */
import type { ErrorCode, HttpErrorCodes } from './errors.js'

export type HttpErrorCode = keyof typeof HttpErrorCodes

export const ErrorRemedies: Record<ErrorCode | HttpErrorCode, string> = {
  RIG_ERR_MANIFEST_INVALID:
    'Fix `manifest.json` where the message points (it names the file, the field and what it expected). `name`, `version` and `type` are required, and `name` must equal the folder name (without `@version`). `outrigger validate <dir>` checks a plugin folder.',
  RIG_ERR_CONFIG_INVALID:
    'Fix the field the message names in `outrigger.config.json` (its JSON Schema is `schema/config.schema.json`), or the environment variable it names (`PORT`).',
  RIG_ERR_OPTIONS_INVALID: "Fix `plugins.<name>.options` in the host config so it matches the plugin's `options` schema; the message names the field.",
  RIG_ERR_ENGINE_MISMATCH: "Run an Outrigger version inside the manifest's `engine` range, or widen the range if the plugin is known to work with this version.",
  RIG_ERR_PLUGIN_LOAD:
    'The entry (`main`, default `index.js`) is missing, does not import, or exports no plugin. Entries are ES modules: in a CommonJS project add `"type": "module"` to a `package.json` in the plugin folder, or name the file `.mjs`. `node --check <entry>` shows a syntax error with its line.',
  RIG_ERR_PLUGIN_INIT:
    "The plugin's own error is the cause (in `lastError` and the log). Fix the plugin or its options, then `outrigger restart <plugin>` (worker plugins) or restart the host.",
  RIG_ERR_PLUGIN_INIT_TIMEOUT:
    'Make `init` or `whenReady` settle sooner (an await that never settles is the usual cause), or raise `timeouts.initMs` or `whenReadyMs` in the host config, for every plugin or for this one under `plugins.<name>.timeouts` (worker plugins: `worker.limits.startTimeoutMs`).',
  RIG_ERR_PLUGIN_CLOSE:
    "The plugin's `close` threw (its error is the cause) or never settled: release what it holds without waiting on something that may never answer, or raise `plugins.<name>.timeouts.closeMs` (or `timeouts.closeMs`). The host goes on closing the other plugins.",
  RIG_ERR_PLUGINS_DIR: 'Create the folder, or point `--plugins` or the config\'s `pluginsDir` (relative to the config file) at the folder that holds the enabled plugins.',
  RIG_ERR_STRICT_START: 'Fix the plugins or version folders the message lists (`outrigger validate <dir>` says why each fails) or remove the broken version folders, or start without `--strict` to run with them marked `failed` (a broken newer version then leaves the older one running, shown as broken under `shadowed`).',
  RIG_ERR_WORKER_DEFINITION: 'Pipes and controllers run on the request path, and `provides` fills a service slot in the host, so only core plugins may have them (empty ones pass): move them into a core plugin, or make this one `"type": "core"`.',
  RIG_ERR_PIPE_ABORTED:
    'A pipe listener refused the payload; its own error is the cause (over HTTP, with the status it set, else 400). Fix the input, or the listener if it should not have refused.',
  RIG_ERR_PIPE_TIMEOUT:
    'The pipe listener named in the message never answered (over HTTP, 504). Find what it waits for (a lost network answer, a promise never resolved) and fix it, or raise `timeouts.pipeTimeoutMs` in the host config if it is only slow. The listener is not cancelled: its late result is ignored.',
  RIG_ERR_SOURCE_FAILED:
    "The source's own error is the cause. A worker instance whose source fails is ended and restarted by its restart policy, and resumes from what it checkpointed in `ctx.state`; a core plugin is marked failed. Fix what the source reads, or catch the errors it can go on after (a bad record: `ctx.deadLetter`).",
  RIG_ERR_PIPE_BUSY: 'Retry later (HTTP 503). If it lasts, pipe listeners are too slow for the load: speed them up, or raise `maxConcurrentPipes`.',
  RIG_ERR_UNKNOWN_TARGET:
    'Name a loaded plugin and one of its functions as `plugin.function` (`outrigger plugins describe <plugin>` lists them); for HTTP, `GET /_info` lists the routes (404).',
  RIG_ERR_NOT_CLONEABLE:
    'Emit plain data: no functions, symbols, sockets or class instances that must keep their prototype. Only this event is refused (counted in `queue.rejected`); the rest of its batch is delivered.',
  RIG_ERR_HTTP_LISTEN: 'Pick a free port (`--port`, `PORT`, or `http.port` in the host config; 0 picks one), a port above 1023, or an `http.host` this machine has; or stop the process that holds the port (`ss -ltnp` shows it). Nothing was started.',
  RIG_ERR_ACTION_TIMEOUT:
    'The action, or one of its pipes, did not answer in time (504): make it faster, stop its work when `request.signal` aborts, or raise `http.actionTimeoutMs` in the host config.',
  RIG_ERR_REQUEST_INVALID:
    'Send `{ controller: "<plugin>/<controller>", action, body?, query?, credentials?, requestId? }` (400); over WebSocket, one JSON text frame per request. The message names the field.',
  RIG_ERR_PROFILE_UNAVAILABLE:
    'Name a running instance (`outrigger status` lists them; `--instance N`). A process worker under a permission model needs the inspector and worker threads allowed (Node 24: `--allow-inspector`, `--allow-worker`; Node 20 has no way): the reason is in the message. See docs/diagnostics.md.',
  RIG_ERR_PROFILE_OPTIONS: 'Give `instance` as an instance id (0 or more; `outrigger status` lists them) and `seconds` as a number above 0 and at most 120, e.g. `{"instance": 0, "seconds": 2}` (HTTP 400).',
  RIG_ERR_PROFILE_FAILED:
    'The instance ended during the profile, or the file could not be written under `<stateDir>/profiles`: check that the state folder is writable and has free space, then profile again.',
  RIG_ERR_COORD_ENTRY:
    'Give the entry a type that begins with the plugin\'s own name (`<plugin>/<type>`; built-in types are the supervisor\'s), and args that are plain JSON data. Only this entry is refused.',
  RIG_ERR_COORD_ENTRY_TOO_LARGE:
    'Keep entries small (at most 64 KiB as JSON): put large data in `ctx.state` or a file, and only its key in the entry. Only this entry is refused.',
  RIG_ERR_COORD_HANDLER:
    "The plugin's `apply`, `diff` or `reactions` threw: they must be pure, deterministic functions of their arguments. Proposed entries are refused before they reach the log; a throw on an entry already in the log is skipped by every replica and marks the plugin failed (no crash loop). Fix the plugin, then `outrigger restart <plugin>`.",
  RIG_ERR_COORD_LOG:
    'The coordination log (`<stateDir>/coordination`) could not be opened or written: check that the state folder is writable, has free space, and belongs to one supervisor only, then restart the host.',
  RIG_ERR_JOURNAL:
    "A durable plugin's journal (`<stateDir>/journal/<plugin>`) could not be opened or a commit failed: check that the state folder is writable, has free space, and is used by one supervisor only. After a failed commit, events are still delivered in memory but `emitDurable` and `flush` reject: restart the host once the disk is fixed.",
  RIG_ERR_CLUSTER_REQUIRED:
    'Give the host a cluster: `"cluster": { "redis": "redis://127.0.0.1:6379", "name": "<cluster>" }` in the host config, or `outrigger start --cluster redis://…`; or set the plugin\'s `worker.placement` to "local" (docs/cluster.md).',
  RIG_ERR_CLUSTER_UNREACHABLE:
    'Start redis-server where `cluster.redis` points, or fix the URL, user or password (an ACL user needs the stream, key and script commands, docs/cluster.md). A node needs Redis at start (it reads the coordination log of the cluster); a running host keeps running through an outage: events wait in the local outbox and go to the stream once Redis answers. A `rediss://` server certificate this host does not trust (a private CA, a name it does not cover, expired) fails at once, with the fix in the message: set `cluster.tls.ca` to the CA\'s PEM file (or `NODE_EXTRA_CA_CERTS`), or `cluster.tls.servername`.',
  RIG_ERR_QUEUE_FULL:
    'The worker plugin falls behind under overflow `reject`: add `instances`, make the handler faster, raise `worker.queue.max`, or choose `drop-oldest` or `drop-newest`.',
  RIG_ERR_WORKER_EXITED:
    'An instance crashed, called `process.exit` or hit `limits.memoryMb`. It is restarted by its policy; `lastError` and the log say why. At-least-once events in flight are redelivered, at-most-once ones counted as `lost`.',
  RIG_ERR_WORKER_UNRESPONSIVE:
    "The instance's event loop was blocked longer than `limits.unresponsiveMs`; it is restarted. Split long synchronous work, or raise the limit.",
  RIG_ERR_HANDLER_TIMEOUT:
    "A hook did not settle within `limits.handlerTimeoutMs` (an await that never settles), or blocked its worker's event loop until the instance was killed. Only that event failed (it is not retried); the worker went on with the others. Make the hook settle (a timeout on its own calls), or raise the limit.",
  RIG_ERR_WORKER_START: "The instance threw while loading or did not start within `limits.startTimeoutMs`: see `lastError`, fix it, then `outrigger restart <plugin>`.",
  RIG_ERR_CALL_TIMEOUT: "The function did not answer in time: make it settle sooner, or raise the limit (worker plugins: `limits.handlerTimeoutMs`; core plugins: `plugins.<name>.timeouts.callMs` or `timeouts.callMs`).",
  RIG_ERR_CRASH_LOOP:
    'More than `restart.maxRestarts` restarts within `restart.windowMs`: the plugin is quarantined and the host stays up. Fix the cause (`lastError`, the log), then `outrigger restart <plugin>`.',
  RIG_ERR_WORKER_STOPPED:
    'Its restart policy (`temporary`, or `transient` after a normal exit) leaves the instance down; a plugin with every instance down is `stopped`, its health `degraded`, and its new events are dropped (counted in `queue.dropped`). Run `outrigger restart <plugin>`, or choose policy `permanent` if it should always come back.',
  RIG_ERR_CLOSED: 'The supervisor is stopping or stopped and accepts no more work (HTTP 503). Retry once it runs again.',
  RIG_ERR_CONTROL_UNREACHABLE:
    'Start the supervisor (`npm start`, `outrigger start`), and give the CLI the same `--app` and the same `OUTRIGGER_RUNTIME_DIR` (or `XDG_RUNTIME_DIR`) as the supervisor. The CLI exits 3.',
  RIG_ERR_CONTROL_IN_USE: 'A live supervisor already owns this app\'s control socket: stop it first, or start this one with another `--app`.',
  RIG_ERR_CONTROL_REQUEST: 'Use a CLI of the same version as the supervisor; the message names the command or field it refused.',
  RIG_ERR_UNKNOWN_PLUGIN: '`outrigger plugins list` shows the loaded plugins, by their manifest names.',
  RIG_ERR_NOT_RESTARTABLE:
    "Core plugins run in the host's event loop and their modules stay in its module cache, so one cannot be loaded again on its own: fix it, then restart the host (`pm2 restart <app>`). Worker plugins restart alone. A core plugin whose manifest says `\"reloadable\": true` can be reloaded (`outrigger reload <plugin>`) and stopped live.",
  RIG_ERR_RELOAD_FAILED:
    'The cause (in the message and the log) names the file and what failed: fix the plugin, its manifest or its `plugins.<name>` config section, then `outrigger reload <plugin>` again. The old instances kept serving meanwhile (when some ids were already rolled, the message says which run the new code).',
  RIG_ERR_RELOAD_REFUSED:
    'Read the message: a change to `worker.instances`, `delivery`, `partitionBy`, `queue`, `maxAttempts`, `retry` or `restart` needs a host restart (the queue and the books are built around them); a plugin that provides a service slot, or changes between core and worker, needs one too; a reload already under way must finish first; a plugin already loaded is reloaded, not started.',
  RIG_ERR_UNKNOWN_DEAD_LETTER:
    '`outrigger dead-letters list <plugin>` shows the ids the plugin has (a replayed or purged letter is gone). Nothing was done: send the request again without the unknown ids (HTTP 404, CLI exit 1).',
  RIG_ERR_DEAD_LETTER_SELECTION:
    'Give ids as `dead-letters list` shows them, a `limit` of at least 1, and a `before` time in ISO 8601 with a zone (`2026-11-22T14:05:00Z`, or a date for midnight UTC); `ids` or `before`, not both (HTTP 400, CLI exit 2).',
  RIG_ERR_SLOT_CONFLICT:
    'Two enabled plugins `provides` the same service slot (the message names both). Keep one: disable the other with `outrigger plugins disable <name>`, or remove the slot from its `provides`.',
  RIG_ERR_HTTP_MALFORMED_JSON: 'Send a valid JSON body (400), with `content-type: application/json`.',
  RIG_ERR_HTTP_BODY_TOO_LARGE: 'Send a smaller body (413), or raise `http.maxBodyBytes` in the host config.',
  RIG_ERR_HTTP_NOT_FOUND: 'Check the path (404): the built-in routes, or `/_/<plugin>/<controller>/<action>`; `GET /_info` lists every route.',
  RIG_ERR_HTTP_METHOD_NOT_ALLOWED: 'Use a method the `Allow` header names (405): GET for the built-in routes, GET or POST for actions.',
  RIG_ERR_HTTP_TIMEOUT: 'Send the whole request within `http.requestTimeoutMs` (408).',
  RIG_ERR_HTTP_BAD_REQUEST: 'The request is not valid HTTP, or a plugin refused it with a 4xx status of its own (400 or that status): read the message.',
  RIG_ERR_HTTP_HEADERS_TOO_LARGE: 'Send smaller request headers (431).',
  RIG_ERR_HTTP_UNAUTHORIZED: 'Send the credentials the auth slot expects (401); with `http.token` set: `Authorization: Bearer <token>`.',
  RIG_ERR_HTTP_FORBIDDEN: "The permission slot refused this caller this action (403): check the slot's rules.",
  RIG_ERR_HTTP_INTERNAL: 'An error without a code or a 4xx `status` escaped an action (500); the log has its stack. Throw errors with a `status` for refusals.',
  RIG_ERR_HTTP_RESULT_NOT_JSON: "Return data JSON can carry from the action (500): no BigInt, no cycles.",
}
