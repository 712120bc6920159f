// What the browser scenarios share: their environment, waiting, screenshots, Debian's
// Chromium driven by playwright-core, and steps that report and collect failures.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

// The environment variable `name`, which must be set.
export const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

// Waits until `check` gives a true value (every 250 ms), and gives it; fails past `limit` ms.
export async function until(what, check, limit = 30000) {
  const start = Date.now();
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() - start > limit) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

// A browser with one page on URL (and nothing fetched from elsewhere), screenshots to
// $SHOTS/$NAME-*.png, and `step`s whose failures `finish` reports.
export async function open(URL_) {
  const shots = env('SHOTS');
  const name = env('NAME');
  mkdirSync(shots, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const failures = [];
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  const external = [];
  page.on('request', (r) => { if (!r.url().startsWith(URL_)) external.push(r.url()); });
  page.on('pageerror', (e) => failures.push(`page error: ${e.message}`));
  return {
    page,
    shot: (name_) => page.locator('body').screenshot({ path: join(shots, `${name}-${name_}.png`) }),
    step: async (what, body) => {
      try {
        await body();
        console.log(`ok: ${what}`);
      } catch (e) {
        failures.push(`${what}: ${e.stack || e}`);
        console.log(`FAILED: ${what}: ${e.message}`);
      }
    },
    signIn: async (token) => {
      await page.locator('#auth').click();
      await page.locator('#token').fill(token);
      await page.locator('#signin-ok').click();
      await until('signed in', async () => (await page.locator('#auth').textContent()) === 'Sign out');
    },
    finish: async () => {
      if (external.length) failures.push(`the console fetched from elsewhere: ${external}`);
      await browser.close();
      if (failures.length) {
        console.error(failures.join('\n'));
        process.exit(1);
      }
    },
  };
}
