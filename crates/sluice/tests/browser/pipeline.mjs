// The live graph of a running pipeline in a real browser (Debian's Chromium, driven by
// playwright-core), against `sluice run --admin-addr` of the pipeline that
// `crates/sluice/tests/live.rs` starts: a generator -> tag -> slow (deliberately slow jq) ->
// out, with slow's dead letters -> dead. The graph shows every component, its rates move, the
// slow stage is marked the bottleneck, and a stage's page shows a live sample of its events.
// Screenshots go to $SHOTS.
//
// Environment: CONSOLE_URL, TOKEN, SHOTS, NAME.
import assert from 'node:assert/strict';
import { env, open, until } from './harness.mjs';

const URL_ = env('CONSOLE_URL');
const TOKEN = env('TOKEN');
const { page, shot, step, signIn, finish } = await open(URL_);
const COMPONENTS = ['numbers', 'tag', 'slow', 'out', 'dead'];

await step('the graph shows every component, and the rates move', async () => {
  await page.goto(URL_ + '/');
  await page.locator('svg.graph').waitFor();
  const drawn = await page.locator('svg.graph a.node').evaluateAll((nodes) => nodes.map((n) => n.dataset.component));
  assert.deepEqual(drawn, COMPONENTS);
  assert.equal(await page.locator('svg.graph path.edge').count(), 4);
  assert.equal(await page.locator('svg.graph path.edge.errors').count(), 1);
  const out = page.locator('table.components tr[data-component="slow"] td[data-figure="out"]');
  const first = await out.textContent();
  await until('the rate of slow changes', async () => (await out.textContent()) !== first);
});

await step('the slow stage is marked the bottleneck', async () => {
  await until('slow is the bottleneck', async () =>
    (await page.locator('svg.graph a.node.bottleneck').count()) === 1
    && (await page.locator('svg.graph a.node.bottleneck').getAttribute('data-component')) === 'slow');
  assert.match(await page.locator('#bottleneck').textContent(), /Bottleneck: slow/);
  await shot('graph');
});

await step('a stage page shows its figures, settings and a live sample of its events', async () => {
  await signIn(TOKEN);
  await page.locator('svg.graph a.node[data-component="slow"]').click();
  await page.locator('#settings').waitFor();
  assert.match(await page.locator('#settings').textContent(), /range\(0; 3000\)/);
  await until('a sample of 5 events', async () => (await page.locator('#sample ol.events li').count()) >= 5);
  for (const line of await page.locator('#sample ol.events li').allTextContents()) {
    const event = JSON.parse(line);
    assert.equal(event.tagged, true, line);
    assert.equal(event.n, 3000, line);
  }
  await until('the latency chart has points', async () =>
    (await page.locator('svg.chart polyline.p99').getAttribute('points')).split(' ').length > 2);
  await shot('stage');
});

await step('its dead letters are sampled from the errors output', async () => {
  await page.locator('#sample select').selectOption('errors');
  await page.locator('#sample button', { hasText: 'Sample again' }).click();
  await until('a dead letter', async () => (await page.locator('#sample ol.events li').count()) >= 1);
  const dead = JSON.parse(await page.locator('#sample ol.events li').first().textContent());
  assert.equal(dead.stage, 'slow');
  assert.equal(dead.event.seq % 50, 0);
});

await step('without the token, no sample', async () => {
  await page.locator('#auth').click();
  await until('signed out', async () => (await page.locator('#auth').textContent()) === 'Sign in');
  await page.goto(URL_ + '/#/pipelines/orders/tag');
  await page.locator('#sample').waitFor();
  assert.match(await page.locator('#sample').textContent(), /needs the admin token/);
  const status = await page.evaluate(() => fetch('/api/v1/pipelines/orders/components/slow/tap?limit=1').then((r) => r.status));
  assert.equal(status, 401);
});

await finish();
