// The console in a real browser (Debian's Chromium, driven by playwright-core), against a
// running worker whose store `crates/sluice/tests/console.rs` seeded: the overview's counts
// match the store, a dead job is retried from its page and succeeds, a paused queue claims
// nothing and drains on resume, a bulk discard by filter removes exactly the matching jobs,
// and without the token every action is refused. Screenshots go to $SHOTS.
//
// Environment: CONSOLE_URL, TOKEN, SLUICE (the binary), STORE (its URL), WORKDIR (where the
// worker runs: the `flaky` kind succeeds once WORKDIR/flag exists), SHOTS, NAME (the store's).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const URL_ = env('CONSOLE_URL');
const TOKEN = env('TOKEN');
const SHOTS = env('SHOTS');
const NAME = env('NAME');
mkdirSync(SHOTS, { recursive: true });

// `sluice jobs --store STORE ARGS`, its standard output.
const jobs = (...args) =>
  execFileSync(env('SLUICE'), ['jobs', '--store', env('STORE'), ...args], {
    cwd: env('WORKDIR'),
    encoding: 'utf8',
  });
const stats = () => Object.fromEntries(JSON.parse(jobs('stats', '--json')).map((q) => [q.queue, q]));
const count = (queue, state) => (stats()[queue]?.counts?.[state]) || 0;
const api = async (path) => (await fetch(URL_ + '/api/v1/' + path)).json();

async function until(what, check, limit = 30000) {
  const start = Date.now();
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() - start > limit) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const shot = (page, name) => page.locator('body').screenshot({ path: join(SHOTS, `${NAME}-${name}.png`) });

// Clicks a button that asks for confirmation, and confirms.
async function confirmClick(page, locator) {
  await locator.click();
  await page.locator('#confirm-ok').click();
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const failures = [];
const step = async (name, body) => {
  try {
    await body();
    console.log(`ok: ${name}`);
  } catch (e) {
    failures.push(`${name}: ${e.stack || e}`);
    console.log(`FAILED: ${name}: ${e.message}`);
  }
};

try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  const external = [];
  page.on('request', (r) => { if (!r.url().startsWith(URL_)) external.push(r.url()); });
  page.on('pageerror', (e) => failures.push(`page error: ${e.message}`));

  await step('the overview counts match the store', async () => {
    await page.goto(URL_ + '/');
    const expected = stats().default.counts;
    for (const state of ['succeeded', 'dead']) {
      const cell = page.locator(`#queues tr[data-queue="default"] td[data-state="${state}"]`);
      await until(`${state} = ${expected[state]}`, async () => (await cell.textContent()) === String(expected[state] || 0));
    }
    await shot(page, 'overview');
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
    await shot(page, 'read-only');
  });

  await step('signing in with the token', async () => {
    await page.goto(URL_ + '/');
    await page.locator('#auth').click();
    await page.locator('#token').fill(TOKEN);
    await page.locator('#signin-ok').click();
    await until('signed in', async () => (await page.locator('#auth').textContent()) === 'Sign out');
  });

  await step('a dead job is retried from its page and succeeds', async () => {
    const dead = (await api('jobs?state=dead&kind=flaky')).jobs[0];
    assert.ok(dead, 'a dead flaky job');
    await page.goto(URL_ + '/#/jobs?state=dead');
    await page.locator(`#jobs a[href="#/jobs/${dead.id}"]`).click();
    await page.locator('#errors').waitFor();
    assert.equal(await page.locator('#job-state').textContent(), 'dead');
    assert.match(await page.locator('#errors').textContent(), /exited with status 1/);
    await shot(page, 'dead-job');
    writeFileSync(join(env('WORKDIR'), 'flag'), 'ok');
    await confirmClick(page, page.locator('.actions button', { hasText: /^Retry$/ }));
    await until('the job succeeded', async () => (await page.locator('#job-state').textContent()) === 'succeeded');
    await shot(page, 'retried-job');
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
    await shot(page, 'paused-queue');
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
    await shot(page, 'jobs-filtered');
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
    await shot(page, 'schedules');
    await page.goto(URL_ + '/#/workers');
    await page.locator('#workers tr.live').waitFor();
    await shot(page, 'workers');
  });

  assert.deepEqual(external, [], 'the console fetched nothing from elsewhere');
} catch (e) {
  failures.push(e.stack || String(e));
} finally {
  await browser.close();
}
if (failures.length) {
  console.error(failures.join('\n'));
  process.exit(1);
}
