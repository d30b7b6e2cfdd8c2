// The Outrigger dashboard: reads the status stream and draws it; plugin actions are POSTs.
//
// The stream is read with fetch, not EventSource: fetch carries whatever credentials the page was
// loaded with (an Authorization header set by a proxy or the browser), and a token never has to
// travel in a URL. Every URL is relative to the page, so a proxy may mount the host under a prefix.
'use strict'

/** The header the host requires on every action: a cross-site form cannot set it. */
const ACTION_HEADER = 'x-outrigger-action'
const WINDOW_MS = 5 * 60 * 1000
const MINUTE_MS = 60 * 1000
const COUNTERS = [
  ['failed', (p) => p.events.failed],
  ['dead-lettered', (p) => p.events.deadLettered],
  ['dropped', (p) => p.queue.dropped],
  ['rejected', (p) => p.queue.rejected],
  ['lost', (p) => p.events.lost],
  // Only hosts whose status report counts recovered events have it; the tile shows when they do.
  ['recovered', (p) => p.events.recovered],
]

const $ = (id) => document.getElementById(id)
const state = {
  /** [time s, processed/s, queue depth] for the chart, oldest first. */
  times: [],
  rates: [],
  depths: [],
  /** Counter totals by time, for the change over the last minute. */
  totals: [],
  last: null,
  chart: null,
  updates: 0,
  maxRate: 0,
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue
    if (k === 'text') e.textContent = String(v)
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v)
    else e.setAttribute(k, v === true ? '' : String(v))
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c)
  return e
}

function duration(ms) {
  const s = Math.floor(ms / 1000)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m ${s % 60}s`
  const h = Math.floor(m / 60)
  if (h < 48) return `${h}h ${m % 60}m`
  return `${Math.floor(h / 24)}d ${h % 24}h`
}

const fmt = (n, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '–')

function badge(text, extra = {}) {
  return el('span', { class: 'badge', 'data-state': text, text, ...extra })
}

function say(text, isError = false) {
  const m = $('message')
  m.textContent = text
  m.classList.toggle('error', isError)
  m.hidden = false
}

// ---- the stream ----------------------------------------------------------------------------

function setConn(s, title) {
  const c = $('conn')
  c.dataset.state = s
  c.textContent = s
  if (title) c.title = title
  else c.removeAttribute('title')
}

async function connect() {
  for (;;) {
    let retryMs = 2000
    try {
      const res = await fetch('_events/status', { headers: { accept: 'text/event-stream' }, cache: 'no-store', credentials: 'same-origin' })
      if (!res.ok) {
        const why = await errorText(res)
        setConn(res.status === 401 || res.status === 403 ? 'refused' : 'disconnected', why)
        say(`The status stream was refused: ${why}`, true)
        retryMs = 5000
      } else {
        setConn('live')
        await readEvents(res.body, (event, data) => {
          if (event === 'status') update(JSON.parse(data))
        })
        setConn('disconnected', 'the stream ended; reconnecting')
      }
    } catch (err) {
      setConn('disconnected', String(err && err.message ? err.message : err))
    }
    await new Promise((r) => setTimeout(r, retryMs))
  }
}

/** Parses a text/event-stream body: blocks separated by a blank line, `event:` and `data:` fields. */
async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader()
  let buf = ''
  for (;;) {
    const { value, done } = await reader.read()
    if (done) return
    buf += value
    let end
    while ((end = buf.indexOf('\n\n')) !== -1) {
      const block = buf.slice(0, end)
      buf = buf.slice(end + 2)
      let event = 'message'
      const data = []
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim()
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''))
      }
      if (data.length > 0) onEvent(event, data.join('\n'))
    }
  }
}

async function errorText(res) {
  try {
    const body = await res.json()
    if (body && body.error) return `${res.status} ${body.error.code}: ${body.error.message}`
  } catch {
    // not JSON: the status line says enough
  }
  return `${res.status} ${res.statusText}`
}

// ---- drawing -------------------------------------------------------------------------------

function update(s) {
  const now = Date.now()
  const processed = s.plugins.reduce((n, p) => n + p.events.processed, 0)
  const depth = s.plugins.reduce((n, p) => n + p.queue.depth, 0)
  const prev = state.last
  // The host's own clock (uptimeMs) spaces the samples; a restarted host starts a new series.
  let rate = null
  if (prev && s.pid === prev.pid && s.uptimeMs > prev.uptimeMs) {
    rate = Math.max(0, ((processed - prev.processed) * 1000) / (s.uptimeMs - prev.uptimeMs))
  }
  state.last = { pid: s.pid, uptimeMs: s.uptimeMs, processed }
  state.times.push(now / 1000)
  state.rates.push(rate)
  state.depths.push(depth)
  while (state.times.length > 0 && state.times[0] < (now - WINDOW_MS) / 1000) {
    state.times.shift()
    state.rates.shift()
    state.depths.shift()
  }
  if (rate !== null) state.maxRate = Math.max(state.maxRate, rate)

  drawHost(s)
  drawCounters(s, now)
  drawPlugins(s)
  drawChart()
}

function drawHost(s) {
  $('app').textContent = s.app
  $('version').textContent = `v${s.version} · pid ${s.pid}`
  document.title = `${s.app} · ${s.health} · Outrigger`
  for (const [id, v] of [['host-state', s.state], ['host-health', s.health]]) {
    $(id).textContent = v
    $(id).dataset.state = v
  }
  $('host-uptime').textContent = duration(s.uptimeMs)
  $('host-loop').textContent = `${fmt(s.eventLoop.p99Ms)} ms`
  $('host-rss').textContent = `${fmt(s.memory.rssMb, 0)} MB`
}

function drawCounters(s, now) {
  const totals = {}
  for (const [name, get] of COUNTERS) {
    const values = s.plugins.map(get).filter((v) => typeof v === 'number')
    if (values.length > 0) totals[name] = values.reduce((a, b) => a + b, 0)
  }
  state.totals.push({ at: now, totals })
  while (state.totals.length > 1 && state.totals[1].at <= now - MINUTE_MS) state.totals.shift()
  const base = state.totals[0].totals
  const list = $('counters')
  list.replaceChildren(
    ...Object.entries(totals).map(([name, total]) => {
      const delta = base[name] === undefined ? 0 : total - base[name]
      return el(
        'li',
        { 'data-counter': name },
        el('span', { class: 'name', text: name }),
        el('span', { class: 'value', text: total }),
        el('span', { class: delta > 0 ? 'delta up' : 'delta', text: `${delta > 0 ? '+' : '±'}${delta} /min` }),
      )
    }),
  )
}

function reasonOf(p) {
  if (p.health && typeof p.health === 'object' && p.health.reason) return p.health.reason
  if (typeof p.healthReason === 'string') return p.healthReason
  switch (p.state) {
    case 'quarantined':
      return 'crash loop: quarantined until an operator restarts it'
    case 'failed':
      return 'failed to start'
    case 'restarting':
      return 'restarting after an exit'
    case 'degraded': {
      const bad = p.instances.filter((i) => i.state !== 'running').length
      return bad > 0 ? `${bad} of ${p.instances.length} instances not running` : 'degraded'
    }
  }
  if (p.queue.dropped > 0 || p.queue.rejected > 0) return 'dropping events'
  return p.state === 'running' ? 'ok' : p.state
}

function drawPlugins(s) {
  const body = $('plugins').tBodies[0]
  // Keep the row that holds the focus (a button the operator is on) by updating rows in place.
  const rows = new Map([...body.rows].map((r) => [r.dataset.plugin, r]))
  const keep = new Set()
  for (const p of s.plugins) {
    keep.add(p.name)
    let row = rows.get(p.name)
    if (!row) {
      row = el('tr', { 'data-plugin': p.name })
      for (let i = 0; i < 8; i++) row.append(el('td'))
      row.cells[7].append(el('div', { class: 'actions' }, ...actionsFor(p)))
      body.append(row)
    }
    const c = row.cells
    c[0].replaceChildren(el('strong', { text: p.name }), `@${p.version}`)
    c[1].textContent = p.type
    c[2].textContent = p.isolation
    c[2].dataset.isolation = p.isolation
    c[3].replaceChildren(badge(p.state, { 'data-role': 'plugin-state' }))
    c[4].replaceChildren(el('span', { class: 'reason', text: reasonOf(p) }))
    if (p.lastError) c[4].append(el('div', { class: 'error-text', 'data-role': 'last-error', text: `${p.lastError.code ?? 'error'}: ${p.lastError.message}` }))
    c[5].className = 'num'
    c[5].textContent = p.type === 'worker' ? `${p.queue.depth} / ${p.queue.max}` : '–'
    c[6].replaceChildren(
      p.instances.length === 0
        ? '–'
        : el(
            'ul',
            { class: 'instances' },
            ...p.instances.map((i) =>
              el('li', { title: instanceDetails(i) }, `#${i.id} `, badge(i.state), ` ↻${i.restarts} · ${fmt(i.memoryMb, 0)} MB · p99 ${fmt(i.eventLoopP99Ms)} ms`),
            ),
          ),
    )
  }
  for (const [name, row] of rows) if (!keep.has(name)) row.remove()
}

/** The rest of what the report says of an instance, for its tooltip; fields a host lacks are left out. */
function instanceDetails(i) {
  const parts = [i.threadId ? `thread ${i.threadId}` : `pid ${i.pid}`, `up ${duration(i.uptimeMs)}`, `restarts ${i.restarts}`]
  if (typeof i.heapMb === 'number') parts.push(`heap ${fmt(i.heapMb)} MB`)
  if (typeof i.externalMb === 'number') parts.push(`external ${fmt(i.externalMb)} MB`)
  parts.push(`last heartbeat ${fmt(i.lastHeartbeatMs, 0)} ms ago`)
  return parts.join(' · ')
}

function actionsFor(p) {
  if (p.type !== 'worker') return ['–']
  return [
    el('button', { type: 'button', 'data-action': 'restart', onclick: () => act(p.name, 'restart') }, 'Restart'),
    el('button', { type: 'button', 'data-action': 'replay', onclick: () => act(p.name, 'dead-letters/replay', 'Replay the dead letters of') }, 'Replay dead letters'),
    el('button', { type: 'button', 'data-action': 'purge', onclick: () => act(p.name, 'dead-letters/purge', 'Purge the dead letters of') }, 'Purge dead letters'),
  ]
}

function drawChart() {
  state.updates++
  const fig = $('chart')
  fig.dataset.updates = String(state.updates)
  fig.dataset.maxRate = String(state.maxRate)
  const data = [state.times, state.rates, state.depths]
  if (state.chart) {
    state.chart.setData(data)
    return
  }
  if (typeof uPlot !== 'function') return
  state.chart = new uPlot(
    {
      width: Math.max(300, fig.clientWidth - 16),
      height: 230,
      legend: { live: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, rate: { auto: true, range: (u, min, max) => [0, Math.max(1, max)] }, depth: { auto: true, range: (u, min, max) => [0, Math.max(1, max)] } },
      axes: [{}, { scale: 'rate', label: 'events/s' }, { scale: 'depth', side: 1, label: 'queue depth', grid: { show: false } }],
      series: [
        {},
        { label: 'processed/s', scale: 'rate', stroke: '#0969da', width: 2, fill: 'rgba(9,105,218,0.08)', spanGaps: false },
        { label: 'queue depth', scale: 'depth', stroke: '#bf8700', width: 1.5, dash: [4, 3] },
      ],
    },
    data,
    fig,
  )
}

// ---- actions -------------------------------------------------------------------------------

function confirmAction(text) {
  const dlg = $('confirm')
  $('confirm-text').textContent = text
  dlg.returnValue = ''
  return new Promise((resolve) => {
    dlg.addEventListener('close', () => resolve(dlg.returnValue === 'confirm'), { once: true })
    dlg.showModal()
  })
}

/** Asks, then POSTs the action to the same supervisor call the CLI makes; the answer is shown. */
async function act(plugin, action, question = `${action[0].toUpperCase()}${action.slice(1)} plugin`) {
  if (!(await confirmAction(`${question} "${plugin}"?`))) return
  say(`${action} ${plugin}…`)
  try {
    const res = await fetch(`_/_plugins/${encodeURIComponent(plugin)}/${action}`, {
      method: 'POST',
      headers: { [ACTION_HEADER]: '1', 'content-type': 'application/json' },
      // Replay and purge take a selection; an empty one means every letter, as in the CLI.
      body: action === 'restart' ? undefined : '{}',
      credentials: 'same-origin',
      cache: 'no-store',
    })
    if (!res.ok) return say(`Could not ${action} "${plugin}": ${await errorText(res)}`, true)
    say(`${action} ${plugin}: ${describe(action, (await res.json()).result)}`)
  } catch (err) {
    say(`Could not ${action} "${plugin}": ${err && err.message ? err.message : err}`, true)
  }
}

/** What an action's answer means, in a line. */
function describe(action, result) {
  if (action === 'dead-letters/replay') return `${result.replayed} replayed, ${result.left} left${result.halted ? ` (${result.halted})` : ''}`
  if (action === 'dead-letters/purge') return `${result.purged ?? 0} purged`
  return 'done'
}

// For scripts and tests driving the page: the same action a button runs.
window.outriggerDashboard = { act }

connect()
