// The console in a real browser (Debian's Chromium, driven by playwright-core), against a
// running worker whose store `crates/sluice/tests/console.rs` seeded: the overview's counts
// match the store, a dead job is retried from its page and succeeds, a paused queue claims
// nothing and drains on resume, a bulk discard by filter removes exactly the matching jobs, a
// workflow's page shows which step waits on which and a cancel moves them, a batch's job shows
// the batch's progress, and without the token every action is refused. Screenshots go to
// $SHOTS.
//
// Environment: CONSOLE_URL, TOKEN, SLUICE (the binary), STORE (its URL), WORKDIR (where the
// worker runs: the `flaky` kind succeeds once WORKDIR/flag exists), SHOTS, NAME (the store's).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { env, open, until } from './harness.mjs';

const URL_ = env('CONSOLE_URL');
const TOKEN = env('TOKEN');

// `sluice jobs --store STORE ARGS`, its standard output.
const jobs = (...args) =>
  execFileSync(env('SLUICE'), ['jobs', '--store', env('STORE'), ...args], {
    cwd: env('WORKDIR'),
    encoding: 'utf8',
  });
const stats = () => Object.fromEntries(JSON.parse(jobs('stats', '--json')).map((q) => [q.queue, q]));
const count = (queue, state) => (stats()[queue]?.counts?.[state]) || 0;
const api = async (path) => (await fetch(URL_ + '/api/v1/' + path)).json();

// Clicks a button that asks for confirmation, and confirms.
async function confirmClick(page, locator) {
  await locator.click();
  await page.locator('#confirm-ok').click();
}

const { page, shot, step, signIn, finish } = await open(URL_);

await step('the overview counts match the store', async () => {
  await page.goto(URL_ + '/');
  const expected = stats().default.counts;
  for (const state of ['succeeded', 'dead']) {
    const cell = page.locator(`#queues tr[data-queue="default"] td[data-state="${state}"]`);
    await until(`${state} = ${expected[state]}`, async () => (await cell.textContent()) === String(expected[state] || 0));
  }
  await shot('overview');
});

await step('without the token every action is refused', async () => {
  await page.goto(URL_ + '/#/jobs?state=dead');
  await page.locator('#jobs tbody tr').first().waitFor();
  for (const button of await page.locator('.actions button').all()) {
    assert.equal(await button.isDisabled(), true, await button.textContent());
  }
  const before = JSON.stringify(stats());
  const statuses = await page.evaluate(async () => {
    const post = (path, body) => fetch('/api/v1/' + path, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
    }).then((r) => r.status);
    return [
      await post('jobs/actions/retry', { filter: { state: 'dead' } }),
      await post('jobs/actions/discard', { filter: {} }),
      await post('queues/default/pause', {}),
      await post('schedules/nightly/fire', {}),
    ];
  });
  assert.deepEqual(statuses, [401, 401, 401, 401]);
  assert.equal(JSON.stringify(stats()), before, 'nothing changed');
  await shot('read-only');
});

await step('signing in with the token', async () => {
  await page.goto(URL_ + '/');
  await signIn(TOKEN);
});

await step('a dead job is retried from its page and succeeds', async () => {
  const dead = (await api('jobs?state=dead&kind=flaky')).jobs[0];
  assert.ok(dead, 'a dead flaky job');
  await page.goto(URL_ + '/#/jobs?state=dead');
  await page.locator(`#jobs a[href="#/jobs/${dead.id}"]`).click();
  await page.locator('#errors').waitFor();
  assert.equal(await page.locator('#job-state').textContent(), 'dead');
  assert.match(await page.locator('#errors').textContent(), /exited with status 1/);
  await shot('dead-job');
  writeFileSync(join(env('WORKDIR'), 'flag'), 'ok');
  await confirmClick(page, page.locator('.actions button', { hasText: /^Retry$/ }));
  await until('the job succeeded', async () => (await page.locator('#job-state').textContent()) === 'succeeded');
  await shot('retried-job');
});

await step('a paused queue claims nothing, and drains on resume', async () => {
  await page.goto(URL_ + '/');
  const row = page.locator('#queues tr[data-queue="slow"]');
  await confirmClick(page, row.locator('button', { hasText: 'Pause' }));
  await row.locator('.badge.paused').waitFor();
  for (let i = 0; i < 5; i++) jobs('enqueue', 'ok', '--queue', 'slow');
  await new Promise((r) => setTimeout(r, 2500));
  assert.equal(count('slow', 'available'), 5, 'jobs wait in the paused queue');
  assert.equal(count('slow', 'running'), 0);
  await until('the overview shows 5 waiting', async () =>
    (await row.locator('td[data-state="available"]').textContent()) === '5');
  await shot('paused-queue');
  await confirmClick(page, row.locator('button', { hasText: 'Resume' }));
  await until('the queue drained', () => count('slow', 'available') === 0 && count('slow', 'succeeded') === 5);
  await until('the badge is gone', async () => (await row.locator('.badge.paused').count()) === 0);
});

await step('a bulk discard by filter removes exactly the matching jobs', async () => {
  const all = async () => (await api('jobs?limit=500')).jobs;
  const before = await all();
  const junk = before.filter((j) => j.kind === 'junk').map((j) => j.id);
  assert.ok(junk.length >= 3, `junk jobs: ${junk}`);
  await page.goto(URL_ + '/#/jobs?kind=junk');
  await page.locator('#jobs tbody tr[data-id]').first().waitFor();
  await shot('jobs-filtered');
  await confirmClick(page, page.locator('.actions button', { hasText: 'Discard all matching' }));
  await page.locator('#notice.ok').waitFor();
  const after = (await all()).map((j) => j.id);
  assert.deepEqual(after, before.map((j) => j.id).filter((id) => !junk.includes(id)));
});

await step('schedules fire now, and the workers are listed', async () => {
  const before = (await api('jobs?kind=ok&limit=500')).jobs.length;
  await page.goto(URL_ + '/#/schedules');
  const row = page.locator('#schedules tr[data-schedule="nightly"]');
  await row.waitFor();
  assert.match(await row.textContent(), /0 3 \* \* \*/);
  assert.match(await row.textContent(), /Europe\/Paris/);
  await confirmClick(page, row.locator('button', { hasText: 'Fire now' }));
  await until('the schedule fired', async () => (await api('jobs?kind=ok&limit=500')).jobs.length === before + 1);
  await shot('schedules');
  await page.goto(URL_ + '/#/workers');
  await page.locator('#workers tr.live').waitFor();
  await shot('workers');
});

await step('a workflow shows which step waits on which, and a cancel settles it', async () => {
  // Queue `held` has no worker: the steps stay where the store puts them.
  writeFileSync(join(env('WORKDIR'), 'flow.yaml'), [
    'steps:',
    '  - { name: fetch, kind: ok, queue: held }',
    '  - { name: parse, kind: ok, queue: held, depends_on: [fetch] }',
    '  - { name: report, kind: ok, queue: held, depends_on: [fetch, parse], on_dependency_failure: run }',
    '',
  ].join('\n'));
  const { steps } = JSON.parse(jobs('workflow', 'flow.yaml', '--json'));
  const row = (name) => page.locator(`#workflow tr[data-step="${name}"]`);
  const badge = async (name) => (await row(name).locator('.badge').textContent());
  await page.goto(URL_ + '/#/jobs/' + steps.report);
  await row('report').waitFor();
  assert.equal(await badge('fetch'), 'available');
  assert.equal(await badge('parse'), 'blocked');
  assert.equal(await badge('report'), 'blocked');
  assert.match(await row('report').textContent(), /fetch, parse/);
  await shot('workflow');
  await page.locator(`#workflow a[href="#/jobs/${steps.fetch}"]`).click();
  await until('the fetch step\'s page', async () => (await page.locator('h1').textContent()).startsWith(`Job ${steps.fetch}`));
  await confirmClick(page, page.locator('.actions button', { hasText: /^Cancel$/ }));
  await until('the fetch step is cancelled', async () => (await page.locator('#job-state').textContent()) === 'cancelled');
  await until('parse is cancelled, report runs anyway', async () =>
    (await badge('parse')) === 'cancelled' && (await badge('report')) === 'available');
  await shot('workflow-cancelled');
});

await step('a batch job shows how far its batch is', async () => {
  writeFileSync(join(env('WORKDIR'), 'batch.yaml'), [
    'description: nightly exports',
    'jobs:',
    '  - { kind: ok, queue: held }',
    '  - { kind: ok, queue: held }',
    'on_complete: { kind: ok, queue: held }',
    '',
  ].join('\n'));
  const batch = JSON.parse(jobs('batch', 'enqueue', 'batch.yaml', '--json'));
  await page.goto(URL_ + '/#/jobs/' + batch.jobs[0]);
  await page.locator('#batch').waitFor();
  const text = await page.locator('#batch').textContent();
  assert.match(text, /0 of 2 ended, 0 succeeded/);
  assert.match(text, /nightly exports/);
  assert.match(text, /on_complete/);
  await confirmClick(page, page.locator('.actions button', { hasText: /^Cancel$/ }));
  await until('the batch counts the cancelled job', async () =>
    /1 of 2 ended, 0 succeeded/.test(await page.locator('#batch').textContent()));
  await shot('batch');
  await page.goto(URL_ + '/#/batches');
  const row = page.locator(`#batches tr[data-batch="${batch.id}"]`);
  await row.waitFor();
  assert.match(await row.textContent(), /nightly exports.*1 of 2 ended/);
  await shot('batches');
});

await finish();
