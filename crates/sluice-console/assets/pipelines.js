// The console's pipeline pages: the live graph of each running pipeline and a component's page
// (figures, latency and rates over the last minutes, settings, engine stages, and a live sample
// of its events for the bearer of the admin token). Helpers (h, api, when, info) are
// console.js's; every value is set as text, never as HTML.
'use strict';

const SVG = 'http://www.w3.org/2000/svg';
const NODE_W = 210, NODE_H = 92, GAP_X = 70, GAP_Y = 26;

function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// Events a second, short: 950, 12.5k, 1.43M.
function perSec(v) {
  v = v || 0;
  if (v >= 1e6) return (v / 1e6).toFixed(2) + 'M';
  if (v >= 1e4) return (v / 1e3).toFixed(1) + 'k';
  return v.toFixed(0);
}

// A latency in milliseconds, short.
function latency(msValue) {
  if (msValue === null || msValue === undefined) return '-';
  if (msValue < 1) return (msValue * 1000).toFixed(0) + 'µs';
  if (msValue < 1000) return msValue.toFixed(1) + 'ms';
  return (msValue / 1000).toFixed(1) + 's';
}

function queueText(c) {
  if (!c.queue_capacity) return '-';
  return `${c.queue_depth}/${c.queue_capacity}`;
}

function componentHref(pipeline, name) {
  return `#/pipelines/${encodeURIComponent(pipeline)}/${encodeURIComponent(name)}`;
}

// Columns by depth: a source at 0, anything else one past the deepest of its inputs.
function layout(p) {
  const byName = new Map(p.components.map((c) => [c.name, c]));
  const depth = new Map();
  const depthOf = (name, seen = new Set()) => {
    if (depth.has(name)) return depth.get(name);
    const c = byName.get(name);
    if (!c || seen.has(name)) return 0;
    seen.add(name);
    const d = c.inputs.length ? 1 + Math.max(...c.inputs.map((i) => depthOf(i.split('.')[0], seen))) : 0;
    depth.set(name, d);
    return d;
  };
  const columns = [];
  for (const c of p.components) {
    const d = depthOf(c.name);
    (columns[d] = columns[d] || []).push(c);
  }
  const at = new Map();
  columns.forEach((column, x) => column.forEach((c, y) => at.set(c.name, {
    x: 10 + x * (NODE_W + GAP_X), y: 10 + y * (NODE_H + GAP_Y),
  })));
  const rows = Math.max(...columns.map((c) => (c || []).length));
  return { at, width: 20 + columns.length * (NODE_W + GAP_X) - GAP_X, height: 20 + rows * (NODE_H + GAP_Y) - GAP_Y };
}

// A pipeline's graph: a box per component with its figures, an arrow per wire with its rate.
function graph(p) {
  const { at, width, height } = layout(p);
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, class: 'graph', role: 'img',
    'aria-label': `pipeline ${p.name}` + (p.bottleneck ? `, bottleneck ${p.bottleneck}` : '') });
  svg.append(s('defs', {}, s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5,
    markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, s('path', { d: 'M 0 0 L 10 5 L 0 10 z' }))));
  for (const e of p.edges) {
    const from = at.get(e.from), to = at.get(e.to);
    if (!from || !to) continue;
    const x1 = from.x + NODE_W, y1 = from.y + NODE_H / 2, x2 = to.x, y2 = to.y + NODE_H / 2;
    const mid = (x1 + x2) / 2;
    svg.append(s('path', { d: `M ${x1} ${y1} C ${mid} ${y1}, ${mid} ${y2}, ${x2 - 2} ${y2}`,
      class: 'edge' + (e.output === 'errors' ? ' errors' : ''), 'marker-end': 'url(#arrow)' }));
    svg.append(s('text', { x: mid, y: (y1 + y2) / 2 - 4, class: 'rate', 'text-anchor': 'middle' },
      (e.output ? e.output + ' ' : '') + perSec(e.per_sec) + '/s'));
  }
  for (const c of p.components) {
    const { x, y } = at.get(c.name);
    const fill = c.queue_capacity ? c.queue_depth / c.queue_capacity : 0;
    const node = s('a', { href: componentHref(p.name, c.name), 'data-component': c.name,
      class: 'node ' + c.kind + (c.bottleneck ? ' bottleneck' : '') },
    s('title', {}, `${c.name}: open its page`),
    s('rect', { x, y, width: NODE_W, height: NODE_H, rx: 8 }),
    s('text', { x: x + 10, y: y + 18, class: 'name' }, c.name,
      s('tspan', { class: 'type' }, ` ${c.type}` + (c.workers > 1 ? ` ×${c.workers}` : ''))),
    s('text', { x: x + 10, y: y + 38 }, `in ${perSec(c.in_per_sec)}/s · out ${perSec(c.out_per_sec)}/s`),
    s('text', { x: x + 10, y: y + 55, class: c.errors_per_sec || c.dead_letters ? 'bad' : '' },
      `errors ${perSec(c.errors_per_sec)}/s · dead ${c.dead_letters}`),
    c.kind === 'source' ? null : s('rect', { x: x + 10, y: y + 64, width: 90, height: 8, class: 'meter' }),
    c.kind === 'source' ? null : s('rect', { x: x + 10, y: y + 64, width: 90 * Math.min(1, fill), height: 8, class: 'meter-fill' }),
    s('text', { x: x + (c.kind === 'source' ? 10 : 108), y: y + 72, class: 'small' },
      c.kind === 'source' ? '' : `queue ${Math.round(fill * 100)}%`, ` busy ${Math.round(c.busy * 100)}%`),
    c.bottleneck ? s('text', { x: x + NODE_W - 10, y: y + 86, class: 'flag', 'text-anchor': 'end' }, 'bottleneck') : null);
    svg.append(node);
  }
  return svg;
}

async function pipelinesPage() {
  const data = await api('pipelines');
  if (!data.pipelines.length) return [h('h1', {}, 'Pipelines'), h('p', { class: 'muted' }, 'This process runs no pipeline.')];
  return data.pipelines.flatMap((p) => [
    h('h1', {}, `Pipeline ${p.name}`),
    h('p', { class: 'muted', id: 'bottleneck' }, p.bottleneck
      ? [h('strong', { class: 'bad' }, `Bottleneck: ${p.bottleneck}`), ' — busy, with its input queue full while its readers have room.']
      : 'No bottleneck: no component is holding the others back.', ` · updated ${when(p.sampled_at)}`),
    graph(p),
    h('table', { class: 'components', 'data-pipeline': p.name },
      h('thead', {}, h('tr', {}, ['component', 'type', 'in/s', 'out/s', 'errors/s', 'dead letters', 'queue', 'busy', 'p50', 'p99']
        .map((t, i) => h('th', { class: i > 1 ? 'num' : '' }, t)))),
      h('tbody', {}, p.components.map((c) => h('tr', { 'data-component': c.name, class: c.bottleneck ? 'bottleneck' : '' },
        h('th', { scope: 'row' }, h('a', { href: componentHref(p.name, c.name) }, c.name),
          c.bottleneck ? h('span', { class: 'badge dead' }, 'bottleneck') : null),
        h('td', {}, `${c.kind} ${c.type}`),
        h('td', { class: 'num', 'data-figure': 'in' }, perSec(c.in_per_sec)),
        h('td', { class: 'num', 'data-figure': 'out' }, perSec(c.out_per_sec)),
        h('td', { class: 'num' }, perSec(c.errors_per_sec)),
        h('td', { class: 'num' }, c.dead_letters),
        h('td', { class: 'num' }, queueText(c)),
        h('td', { class: 'num' }, Math.round(c.busy * 100) + '%'),
        h('td', { class: 'num' }, latency(c.p50_ms)),
        h('td', { class: 'num' }, latency(c.p99_ms)))))),
  ]);
}

// A line chart over the history: one line per field, scaled to the largest value.
function historyChart(history, fields, unit) {
  const width = 720, height = 140, pad = 24;
  const top = Math.max(1e-9, ...history.flatMap((p) => fields.map(([f]) => p[f] || 0)));
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img',
    'aria-label': fields.map(([f, label]) => `${label} ${history.length ? unit(history[history.length - 1][f]) : '-'}`).join(', ') });
  const x = (i) => pad + (i * (width - 2 * pad)) / Math.max(1, history.length - 1);
  const y = (v) => height - pad - ((v || 0) * (height - 2 * pad)) / top;
  for (const [field, , cls] of fields) {
    svg.append(s('polyline', { class: cls, points: history.map((p, i) => `${x(i)},${y(p[field])}`).join(' ') }));
  }
  svg.append(s('text', { x: pad, y: 14 }, `max ${unit(top)} · last ${Math.round(history.length / 60 * 10) / 10} min`));
  return svg;
}

// The live sample: kept across the page's refreshes, for one component at a time.
const sample = { key: null, el: null, controller: null };

async function startSample(pipeline, name, output) {
  if (sample.controller) sample.controller.abort();
  const controller = new AbortController();
  sample.controller = controller;
  const list = sample.el.querySelector('ol');
  list.replaceChildren();
  const status = sample.el.querySelector('.status');
  status.textContent = 'waiting for events…';
  try {
    const query = new URLSearchParams({ limit: '20', rate: '5' });
    if (output) query.set('output', output);
    const response = await fetch(`/api/v1/pipelines/${encodeURIComponent(pipeline)}/components/${encodeURIComponent(name)}/tap?${query}`,
      { headers: { Authorization: 'Bearer ' + token() }, signal: controller.signal });
    if (!response.ok) {
      const data = await response.json().catch(() => ({}));
      throw new Error(data.error || response.statusText);
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffered = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += decoder.decode(value, { stream: true });
      const lines = buffered.split('\n');
      buffered = lines.pop();
      for (const line of lines) {
        if (line) list.append(h('li', {}, h('code', {}, line)));
      }
      status.textContent = `${list.children.length} events`;
    }
    status.textContent = `${list.children.length} events (the last 20 at most 5 a second)`;
  } catch (e) {
    if (e.name !== 'AbortError') status.textContent = e.message;
  }
}

function samplePanel(pipeline, c) {
  const key = `${pipeline}/${c.name}`;
  if (sample.key === key && sample.el) return sample.el;
  if (sample.controller) sample.controller.abort();
  sample.key = key;
  const outputs = c.outputs.map((o) => o || 'main');
  const select = h('select', { 'aria-label': 'output' }, outputs.map((o) => h('option', { value: o }, o)));
  const run = () => startSample(pipeline, c.name, select.value === 'main' ? null : select.value);
  sample.el = h('section', { id: 'sample' },
    h('h2', {}, 'Live sample'),
    info.authorized
      ? h('div', { class: 'actions' }, select, h('button', { type: 'button', onclick: run }, 'Sample again'))
      : h('p', { class: 'muted' }, 'A live sample of the events needs the admin token (events may hold personal data): sign in.'),
    h('p', { class: 'muted status' }),
    h('ol', { class: 'events' }));
  if (info.authorized && outputs.length) run();
  return sample.el;
}

async function componentPage(pipeline, name) {
  const c = await api(`pipelines/${encodeURIComponent(pipeline)}/components/${encodeURIComponent(name)}`);
  const field = (label, value) => h('tr', {}, h('th', { scope: 'row' }, label), h('td', {}, value));
  return [
    h('p', {}, h('a', { href: '#/pipelines' }, `« pipeline ${pipeline}`)),
    h('h1', {}, `${c.name} `, h('span', { class: 'muted' }, `${c.kind} ${c.type}`),
      c.bottleneck ? h('span', { class: 'badge dead', id: 'is-bottleneck' }, 'bottleneck') : null),
    h('table', { class: 'fields' }, h('tbody', {},
      field('events in / out', `${perSec(c.in_per_sec)}/s · ${perSec(c.out_per_sec)}/s (${c.events_in} · ${c.events_out} in all)`),
      field('errors', `${perSec(c.errors_per_sec)}/s (${c.errors} in all)`),
      field('dead letters', c.outputs.includes('errors') ? `${perSec(c.dead_letters_per_sec)}/s (${c.dead_letters} in all)` : 'no error output is read'),
      field('input queue', queueText(c)),
      field('busy', Math.round(c.busy * 100) + '%' + (c.workers > 1 ? ` of ${c.workers} workers` : '')),
      field('latency p50 · p99', `${latency(c.p50_ms)} · ${latency(c.p99_ms)} (last second)`),
      field('inputs', c.inputs.length ? c.inputs.join(', ') : '-'))),
    h('h2', {}, 'Latency per event, p50 and p99'),
    historyChart(c.history, [['p50_ms', 'p50', 'p50'], ['p99_ms', 'p99', 'p99']], latency),
    h('p', { class: 'legend' }, h('span', { class: 'p50' }, '— p50'), ' ', h('span', { class: 'p99' }, '— p99')),
    h('h2', {}, 'Events per second, in and out'),
    historyChart(c.history, [['in_per_sec', 'in', 'in'], ['out_per_sec', 'out', 'out']], (v) => perSec(v) + '/s'),
    h('p', { class: 'legend' }, h('span', { class: 'in' }, '— in'), ' ', h('span', { class: 'out' }, '— out')),
    samplePanel(pipeline, c),
    h('h2', {}, 'Settings'),
    h('pre', { id: 'settings' }, JSON.stringify(c.settings, null, 2)),
    h('h2', {}, 'Engine stages'),
    h('table', { id: 'stages' },
      h('thead', {}, h('tr', {}, ['stage', 'operator', 'in', 'out', 'errors', 'retries', 'queue', 'p50', 'p99']
        .map((t, i) => h('th', { class: i > 1 ? 'num' : '' }, t)))),
      h('tbody', {}, c.stages.map((st) => h('tr', {},
        h('th', { scope: 'row' }, st.name), h('td', {}, st.operator),
        [st.items_in, st.items_out, st.errors, st.retries].map((v) => h('td', { class: 'num' }, v)),
        h('td', { class: 'num' }, queueText(st)),
        h('td', { class: 'num' }, latency(st.p50_ms)), h('td', { class: 'num' }, latency(st.p99_ms)))))),
  ];
}
