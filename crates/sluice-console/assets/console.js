// The Sluice console: pages drawn from the JSON API under /api/v1/, no framework, no build
// step. Every value from the store is set as text, never as HTML.
'use strict';

const STATES = ['blocked', 'scheduled', 'available', 'running', 'retryable', 'succeeded', 'dead', 'cancelled'];
const REFRESH_MS = 2000;
const LIVE_REFRESH_MS = 1000;
let info = { writable: false, authorized: false, store: null, pipelines: [] };
let timer = null;

// ---- helpers -------------------------------------------------------------------------------

// An element: h('a', {href: '#/'}, 'text', child, ...). Attributes starting with "on" are
// listeners; strings and numbers become text nodes.
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else el.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function token() {
  return sessionStorage.getItem('sluice-token') || '';
}

async function api(path, options = {}) {
  const headers = { Accept: 'application/json' };
  if (token()) headers.Authorization = 'Bearer ' + token();
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch('/api/v1/' + path, {
    method: options.method || 'GET',
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const data = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function notice(text, kind) {
  const el = document.getElementById('notice');
  el.textContent = text;
  el.className = kind || '';
  el.hidden = !text;
}

function ago(time) {
  if (!time) return '-';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(time)) / 1000));
  if (s < 90) return s + 's ago';
  if (s < 5400) return Math.round(s / 60) + 'm ago';
  if (s < 172800) return Math.round(s / 3600) + 'h ago';
  return Math.round(s / 86400) + 'd ago';
}

function waited(time) {
  if (!time) return '-';
  return ago(time).replace(' ago', '');
}

function ms(value) {
  if (value === null || value === undefined) return '-';
  if (value < 1000) return '≤' + value + 'ms';
  return '≤' + (value / 1000) + 's';
}

function when(time) {
  return time ? new Date(time).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-';
}

function jobsLink(filter, text) {
  const query = new URLSearchParams(filter).toString();
  return h('a', { href: '#/jobs' + (query ? '?' + query : '') }, text);
}

// Asks before a change; resolves to whether the person confirmed.
function confirmed(text) {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-text').textContent = text;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
  });
}

// Runs a change after confirmation, says what came of it, and redraws the page.
async function change(question, path, body, said) {
  if (!(await confirmed(question))) return;
  try {
    const result = await api(path, { method: 'POST', body: body === undefined ? {} : body });
    notice(said(result), 'ok');
  } catch (e) {
    notice(e.message, 'error');
  }
  route();
}

function actionButton(label, onclick, kind) {
  return h('button', {
    type: 'button', class: kind || '', onclick,
    disabled: !info.authorized,
    title: info.authorized ? undefined : (info.writable ? 'Sign in with the admin token' : 'The console is read-only'),
  }, label);
}

// ---- pages ---------------------------------------------------------------------------------

// A line chart of jobs succeeded and failed per step, summed over queues.
function chart(data) {
  const width = 720, height = 140, pad = 24;
  const steps = data.series.length ? data.series[0].points.length : 0;
  const total = (name) => Array.from({ length: steps }, (_, i) =>
    data.series.reduce((sum, s) => sum + (s.points[i] ? s.points[i][name] : 0), 0));
  const succeeded = total('succeeded'), failed = total('failed');
  const top = Math.max(1, ...succeeded, ...failed);
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('class', 'chart');
  svg.setAttribute('role', 'img');
  const line = (values, cls) => {
    const path = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
    const x = (i) => pad + (i * (width - 2 * pad)) / Math.max(1, steps - 1);
    const y = (v) => height - pad - (v * (height - 2 * pad)) / top;
    path.setAttribute('points', values.map((v, i) => `${x(i)},${y(v)}`).join(' '));
    path.setAttribute('class', cls);
    svg.append(path);
  };
  line(succeeded, 'succeeded');
  line(failed, 'failed');
  const label = document.createElementNS('http://www.w3.org/2000/svg', 'text');
  label.setAttribute('x', pad);
  label.setAttribute('y', 14);
  label.textContent = `max ${top} per ${data.step_seconds / 60} min`;
  svg.append(label);
  svg.setAttribute('aria-label', `succeeded ${succeeded.reduce((a, b) => a + b, 0)}, failed ${failed.reduce((a, b) => a + b, 0)}`);
  return svg;
}

async function overview(params) {
  const window = params.get('window') || 'hour';
  const [queues, throughput] = await Promise.all([api('queues'), api('throughput?window=' + window)]);
  const rows = queues.queues.map((q) => h('tr', { 'data-queue': q.name },
    h('th', { scope: 'row' }, jobsLink({ queue: q.name }, q.name),
      q.paused_since ? h('span', { class: 'badge paused' }, 'paused') : null),
    STATES.map((s) => h('td', { class: 'num', 'data-state': s },
      q.counts[s] ? jobsLink({ queue: q.name, state: s }, q.counts[s]) : '0')),
    h('td', { class: 'num' }, q.last_hour.succeeded, ' / ', q.last_hour.failed),
    h('td', { class: 'num' }, q.last_day.succeeded, ' / ', q.last_day.failed),
    h('td', { class: 'num' }, ms(q.last_hour.wait_p50_ms), ' · ', ms(q.last_hour.wait_p99_ms)),
    h('td', { class: 'num' }, waited(q.oldest_available)),
    h('td', { class: 'num' }, q.live_workers),
    h('td', {}, q.paused_since
      ? actionButton('Resume', () => change(`Resume queue ${q.name}? Workers start claiming its jobs again.`,
        `queues/${encodeURIComponent(q.name)}/resume`, undefined, () => `Queue ${q.name} resumed`))
      : actionButton('Pause', () => change(`Pause queue ${q.name}? Workers stop claiming its jobs within a second; running jobs finish.`,
        `queues/${encodeURIComponent(q.name)}/pause`, undefined, () => `Queue ${q.name} paused`), 'warn'))));
  return [
    h('h1', {}, 'Queues'),
    h('p', { class: 'muted' }, `${queues.live_workers} live workers · updated ${when(queues.at)}`),
    h('table', { id: 'queues' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Queue'), STATES.map((s) => h('th', { class: 'num' }, s)),
        h('th', { class: 'num' }, 'ok / failed, hour'), h('th', { class: 'num' }, 'ok / failed, day'),
        h('th', { class: 'num' }, 'wait p50 · p99'), h('th', { class: 'num' }, 'oldest waiting'),
        h('th', { class: 'num' }, 'workers'), h('th', {}, ''))),
      h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 15 }, 'No queue has jobs yet.')))),
    h('h2', {}, 'Jobs ended per ', window === 'hour' ? 'minute, last hour' : '15 minutes, last day', ' · ',
      h('a', { href: '#/?window=hour', class: window === 'hour' ? 'on' : '' }, 'hour'), ' · ',
      h('a', { href: '#/?window=day', class: window === 'day' ? 'on' : '' }, 'day')),
    chart(throughput),
    h('p', { class: 'legend' }, h('span', { class: 'succeeded' }, '— succeeded'), ' ', h('span', { class: 'failed' }, '— failed')),
  ];
}

const FILTERS = ['queue', 'state', 'kind', 'unique_key', 'partition_key', 'workflow', 'args'];

async function jobs(params) {
  const filter = {};
  for (const key of FILTERS) if (params.get(key)) filter[key] = params.get(key);
  if (filter.workflow) filter.workflow = Number(filter.workflow);
  const query = new URLSearchParams(filter);
  if (params.get('before')) query.set('before', params.get('before'));
  query.set('limit', '50');
  const page = await api('jobs?' + query.toString());
  const selected = new Set();
  const form = h('form', { class: 'filter', id: 'filter', onsubmit: (e) => {
    e.preventDefault();
    const data = new FormData(e.target);
    const next = new URLSearchParams();
    for (const key of FILTERS) if (data.get(key)) next.set(key, data.get(key));
    location.hash = '#/jobs?' + next.toString();
  } },
  h('select', { name: 'state', 'aria-label': 'State' }, h('option', { value: '' }, 'any state'),
    STATES.map((s) => h('option', { value: s, selected: filter.state === s }, s))),
  ['queue', 'kind', 'unique_key', 'partition_key', 'workflow', 'args'].map((key) =>
    h('input', { name: key, value: filter[key] || '', 'aria-label': key,
      placeholder: key === 'args' ? 'args: PATH=VALUE' : key.replace('_', ' ') })),
  h('button', { type: 'submit' }, 'Filter'));
  const act = (action, label) => {
    const byIds = () => change(`${label} ${selected.size} selected jobs?`, 'jobs/actions/' + action,
      { ids: [...selected] }, (r) => `${label}: ${r.changed} of ${r.matched} jobs`);
    const byFilter = () => change(`${label} every job matching ${JSON.stringify(filter)}? This can be many jobs.`,
      'jobs/actions/' + action, { filter }, (r) => `${label}: ${r.changed} of ${r.matched} matching jobs`);
    return [actionButton(`${label} selected`, byIds), actionButton(`${label} all matching`, byFilter)];
  };
  const rows = page.jobs.map((job) => h('tr', { 'data-id': job.id },
    h('td', {}, h('input', { type: 'checkbox', 'aria-label': 'select job ' + job.id,
      onchange: (e) => (e.target.checked ? selected.add(job.id) : selected.delete(job.id)) })),
    h('td', { class: 'num' }, h('a', { href: '#/jobs/' + job.id }, job.id)),
    h('td', {}, h('span', { class: 'badge ' + job.state }, job.state)),
    h('td', {}, job.queue), h('td', {}, job.kind),
    h('td', { class: 'num' }, `${job.attempt}/${job.attempts_allowed}`),
    h('td', {}, when(job.run_at)),
    h('td', { class: 'error' }, job.errors.length ? job.errors[job.errors.length - 1].error : '')));
  const nav = h('p', { class: 'pager' },
    params.get('before') ? h('a', { href: '#/jobs?' + new URLSearchParams(filter).toString() }, '« newest') : null, ' ',
    page.next_before ? h('a', { href: '#/jobs?' + new URLSearchParams({ ...filter, before: page.next_before }).toString(), id: 'older' }, 'older »') : null);
  return [
    h('h1', {}, 'Jobs'),
    form,
    h('div', { class: 'actions' }, act('retry', 'Retry'), act('run-now', 'Run now'), act('cancel', 'Cancel'), act('discard', 'Discard')),
    h('table', { id: 'jobs' },
      h('thead', {}, h('tr', {}, h('th', {}, ''), h('th', { class: 'num' }, 'id'), h('th', {}, 'state'), h('th', {}, 'queue'),
        h('th', {}, 'kind'), h('th', { class: 'num' }, 'attempt'), h('th', {}, 'run at'), h('th', {}, 'last error'))),
      h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 8 },
        page.next_before ? 'No job matches among these; a search by args reads 100,000 jobs at a time: go on with "older".' : 'No job matches.')))),
    nav,
  ];
}

async function job(id) {
  const data = await api('jobs/' + encodeURIComponent(id));
  const j = data.job;
  const one = (action, label) => actionButton(label, () => change(`${label} job ${j.id}?`, 'jobs/actions/' + action,
    { ids: [j.id] }, (r) => (r.changed ? `${label}: done` : `${label}: nothing to do for a ${j.state} job`)),
  action === 'discard' || action === 'cancel' ? 'danger' : '');
  const field = (name, value) => h('tr', {}, h('th', { scope: 'row' }, name), h('td', {}, value));
  return [
    h('h1', {}, `Job ${j.id} `, h('span', { class: 'badge ' + j.state, id: 'job-state' }, j.state)),
    h('div', { class: 'actions' }, one('retry', 'Retry'), one('run-now', 'Run now'), one('cancel', 'Cancel'), one('discard', 'Discard')),
    h('table', { class: 'fields' }, h('tbody', {},
      field('kind', j.kind), field('queue', jobsLink({ queue: j.queue }, j.queue)), field('priority', j.priority),
      field('attempt', `${j.attempt} of ${j.attempts_allowed}` + (j.attempts_allowed < j.max_attempts ? ` (the kind's limit; the job allows ${j.max_attempts})` : '')),
      field('run at', when(j.run_at)), field('created', when(j.created_at)), field('finished', when(j.finished_at)),
      field('ran on', data.ran_on ? `${data.ran_on.name} (${data.ran_on.host}, pid ${data.ran_on.pid}${data.ran_on.live ? ', live' : ', gone'})` : (j.worker || '-')),
      field('lease until', when(j.lease_until)),
      field('unique key', j.unique_key ? jobsLink({ unique_key: j.unique_key }, j.unique_key) : '-'),
      field('partition key', j.partition_key ? jobsLink({ partition_key: j.partition_key }, j.partition_key) : '-'),
      field('schedule', data.schedules.length ? data.schedules.join(', ') : '-'),
      field('trace id', j.trace_id || '-'))),
    h('h2', {}, 'Args'),
    h('pre', { id: 'args' }, JSON.stringify(j.args, null, 2)),
    ...(j.result === undefined ? [] : [h('h2', {}, 'Result'), h('pre', { id: 'result' }, JSON.stringify(j.result, null, 2))]),
    ...(j.step ? await workflowSteps(j) : []),
    ...(data.batch ? batchProgress(data.batch) : []),
    h('h2', {}, 'Attempts that failed'),
    j.errors.length
      ? h('table', { id: 'errors' }, h('thead', {}, h('tr', {}, h('th', { class: 'num' }, 'attempt'), h('th', {}, 'at'), h('th', {}, 'error'))),
        h('tbody', {}, j.errors.map((e) => h('tr', {}, h('td', { class: 'num' }, e.attempt), h('td', {}, when(e.at)), h('td', { class: 'error' }, e.error)))))
      : h('p', { class: 'muted' }, 'None.'),
  ];
}

// The steps of the workflow job `j` belongs to: which waits on which, and where each is.
async function workflowSteps(j) {
  const page = await api('jobs?' + new URLSearchParams({ workflow: j.step.workflow, limit: '500' }).toString());
  const steps = page.jobs.slice().reverse();
  const names = new Map(steps.map((s) => [s.id, s.step.name]));
  const rows = steps.map((s) => h('tr', { 'data-step': s.step.name, class: s.id === j.id ? 'current' : '' },
    h('th', { scope: 'row' }, h('a', { href: '#/jobs/' + s.id }, s.step.name)),
    h('td', { class: 'num' }, s.id),
    h('td', {}, h('span', { class: 'badge ' + s.state }, s.state)),
    h('td', {}, s.step.depends_on.length ? s.step.depends_on.map((d) => names.get(d) || `job ${d}`).join(', ') : '-'),
    h('td', { class: 'num' }, s.state === 'blocked' ? s.step.waiting_on : '-'),
    h('td', {}, s.step.on_dependency_failure)));
  return [
    h('h2', {}, `Workflow ${j.step.workflow} `, jobsLink({ workflow: j.step.workflow }, '(as a job list)')),
    h('table', { id: 'workflow' },
      h('thead', {}, h('tr', {}, ['step', 'id', 'state', 'waits on', 'still waiting on', 'on dependency failure']
        .map((t) => h('th', {}, t)))),
      h('tbody', {}, rows)),
    ...(page.next_before ? [h('p', { class: 'muted' }, 'Only the last 500 steps are shown.')] : []),
  ];
}

// A batch's state and progress, as the batch pages show them.
function batchState(b) {
  return b.open ? 'open: takes more jobs until closed' : (b.finished_at ? `done at ${when(b.finished_at)}` : 'closed, jobs running');
}

function batchBar(b) {
  return h('span', {}, h('progress', { max: String(b.total || 1), value: String(b.ended) }),
    ` ${b.ended} of ${b.total} ended, ${b.succeeded} succeeded`);
}

function callbackLinks(b) {
  return b.callbacks.enqueued.length
    ? h('span', {}, b.callbacks.enqueued.map((id) => h('a', { href: '#/jobs/' + id }, ` ${id}`)))
    : '-';
}

// How far the batch of a job is: its jobs ended of all, and its callbacks.
function batchProgress(b) {
  const field = (name, value) => h('tr', {}, h('th', { scope: 'row' }, name), h('td', {}, value));
  const callbacks = [b.callbacks.on_success ? 'on_success' : null, b.callbacks.on_complete ? 'on_complete' : null].filter(Boolean);
  return [
    h('h2', {}, `Batch ${b.id}`),
    h('table', { class: 'fields', id: 'batch' }, h('tbody', {},
      ...(b.description ? [field('description', b.description)] : []),
      field('progress', batchBar(b)),
      field('state', batchState(b)),
      field('callbacks', callbacks.length ? callbacks.join(', ') : '-'),
      field('enqueued', callbackLinks(b)))),
  ];
}

// The latest batches, each with its progress.
async function batchesPage() {
  const data = await api('batches?limit=100');
  const rows = data.batches.map((b) => h('tr', { 'data-batch': b.id },
    h('th', { scope: 'row', class: 'num' }, b.id), h('td', {}, b.description || '-'),
    h('td', {}, batchBar(b)), h('td', {}, batchState(b)), h('td', {}, callbackLinks(b)),
    h('td', {}, when(b.created_at))));
  return [
    h('h1', {}, 'Batches'),
    h('table', { id: 'batches' },
      h('thead', {}, h('tr', {}, ['id', 'description', 'progress', 'state', 'callbacks enqueued', 'created'].map((t) => h('th', {}, t)))),
      h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 6 }, 'No batch yet.')))),
  ];
}

async function schedules() {
  const data = await api('schedules');
  const rows = data.schedules.map((s) => h('tr', { 'data-schedule': s.name },
    h('th', { scope: 'row' }, s.name), h('td', {}, s.cron ? h('code', {}, s.cron) : '-'), h('td', {}, s.timezone || '-'),
    h('td', {}, s.job ? `${s.job.kind} in ${s.job.queue}` : '-'),
    h('td', {}, s.last_fired ? `${when(s.last_fired)} (${ago(s.last_fired)})` : '-'), h('td', {}, when(s.next_fire)),
    h('td', {}, s.workers.length ? s.workers.join(', ') : h('span', { class: 'muted' }, 'no live worker')),
    h('td', {}, s.job ? actionButton('Fire now', () => change(`Enqueue schedule ${s.name}'s job now? Its next tick still fires.`,
      `schedules/${encodeURIComponent(s.name)}/fire`, undefined, (r) => `Schedule ${s.name} fired: job ${r.job}`)) : null)));
  return [
    h('h1', {}, 'Schedules'),
    h('table', { id: 'schedules' },
      h('thead', {}, h('tr', {}, ['name', 'cron', 'time zone', 'job', 'last fired', 'next', 'workers', ''].map((t) => h('th', {}, t)))),
      h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 8 }, 'No worker reports a schedule.')))),
  ];
}

async function workers() {
  const data = await api('workers');
  const rows = data.workers.map((w) => h('tr', { 'data-worker': w.name, class: w.state },
    h('th', { scope: 'row' }, w.name), h('td', {}, h('span', { class: 'badge ' + w.state }, w.state)),
    h('td', {}, w.host), h('td', { class: 'num' }, w.pid), h('td', {}, w.version),
    h('td', {}, w.queues.map((q) => `${q.name} ${q.busy}/${q.slots}`).join(', ')),
    h('td', {}, ago(w.beat_at)), h('td', {}, when(w.started_at))));
  return [
    h('h1', {}, 'Workers'),
    h('table', { id: 'workers' },
      h('thead', {}, h('tr', {}, ['name', 'state', 'host', 'pid', 'version', 'queues (busy/slots)', 'last report', 'started'].map((t) => h('th', {}, t)))),
      h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 8 }, 'No worker reported in the last day.')))),
  ];
}

// ---- routing -------------------------------------------------------------------------------

async function route() {
  clearTimeout(timer);
  const [path, query] = (location.hash.slice(1) || '/').split('?');
  const params = new URLSearchParams(query || '');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const name = parts[0] || (info.store ? 'overview' : 'pipelines');
  if (sample.controller && !(name === 'pipelines' && parts[2])) {
    sample.controller.abort();
    sample.key = null;
  }
  for (const link of document.querySelectorAll('nav a')) {
    link.classList.toggle('on', link.dataset.page === name);
  }
  let content;
  try {
    if (name === 'pipelines' && parts[2]) content = await componentPage(parts[1], parts[2]);
    else if (name === 'pipelines') content = await pipelinesPage();
    else if (name === 'overview') content = await overview(params);
    else if (name === 'jobs' && parts[1]) content = await job(parts[1]);
    else if (name === 'jobs') content = await jobs(params);
    else if (name === 'batches') content = await batchesPage();
    else if (name === 'schedules') content = await schedules();
    else if (name === 'workers') content = await workers();
    else content = [h('h1', {}, 'Not found'), h('p', {}, 'There is no such page.')];
  } catch (e) {
    content = [h('h1', {}, 'Cannot load this page'), h('p', { class: 'error' }, e.message)];
  }
  document.getElementById('page').replaceChildren(...content);
  // Pages refresh themselves, but not under an open dialog, and not the jobs list, which keeps
  // what the person has typed and ticked until they ask again.
  if (!(name === 'jobs' && !parts[1])) refreshLater(name === 'pipelines' ? LIVE_REFRESH_MS : REFRESH_MS);
}

function refreshLater(every) {
  timer = setTimeout(() => {
    if (document.querySelector('dialog[open]')) refreshLater(every);
    else route();
  }, every);
}

async function loadInfo() {
  try {
    info = await api('info');
  } catch (e) {
    notice(e.message, 'error');
  }
  const shown = [info.store ? `${info.store} store` : null, info.pipelines.length ? `pipeline ${info.pipelines.join(', ')}` : null];
  document.getElementById('store').textContent = `${shown.filter(Boolean).join(' · ')} · v${info.version || ''}`;
  for (const link of document.querySelectorAll('nav a')) {
    link.hidden = link.dataset.page === 'pipelines' ? !info.pipelines.length : !info.store;
  }
  document.getElementById('search').hidden = !info.store;
  const button = document.getElementById('auth');
  if (!info.writable) {
    button.textContent = 'read-only';
    button.disabled = true;
    button.title = 'Start the console with --admin-token-file or SLUICE_ADMIN_TOKEN to allow changes and live samples';
  } else if (info.authorized) {
    button.textContent = 'Sign out';
    button.disabled = false;
  } else {
    button.textContent = 'Sign in';
    button.disabled = false;
    if (token()) notice('The admin token given is wrong: sign in again.', 'error');
  }
}

document.getElementById('auth').addEventListener('click', async () => {
  if (info.authorized) {
    sessionStorage.removeItem('sluice-token');
  } else {
    const dialog = document.getElementById('signin');
    dialog.returnValue = '';
    dialog.showModal();
    await new Promise((resolve) => dialog.addEventListener('close', resolve, { once: true }));
    if (dialog.returnValue !== 'ok') return;
    sessionStorage.setItem('sluice-token', document.getElementById('token').value.trim());
    document.getElementById('token').value = '';
  }
  notice('');
  sample.key = null;
  await loadInfo();
  route();
});

document.getElementById('search').addEventListener('submit', (e) => {
  e.preventDefault();
  const q = new FormData(e.target).get('q').trim();
  if (/^\d+$/.test(q)) location.hash = '#/jobs/' + q;
  else if (q.includes('=')) location.hash = '#/jobs?' + new URLSearchParams({ args: q }).toString();
  else if (q) location.hash = '#/jobs?' + new URLSearchParams({ kind: q }).toString();
});

window.addEventListener('hashchange', () => {
  notice('');
  route();
});

loadInfo().then(route);
