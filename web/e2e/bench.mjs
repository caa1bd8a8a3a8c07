// Measures the web client in headless Chromium (figures in
// docs/BENCHMARKS.md; run by `make bench-web` through benches/web_client.rs,
// which seeds the node):
// - the JavaScript the app ships, gzipped;
// - time to first render of an inbox holding INBOX messages: from the
//   unlock click to the first page (50) shown, each message fetched,
//   checked against the chain through the wallet and decrypted. The
//   senders are strangers to Bob, so they are in his Requests view, which
//   loads beside the inbox and the sent mail;
// - envelopes opened per second, and search over 10,000 messages
//   (bench/bench.ts, the app's own code on synthetic text).

import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { withWallet } from './wallet.mjs';

const { CAIRN_URL, ANVIL_URL, BOB, INBOX } = process.env;
const root = new URL('..', import.meta.url).pathname;

const scripts = readdirSync(`${root}/dist/assets`).filter((f) => f.endsWith('.js'));
const gzipped = scripts.reduce((n, f) => n + gzipSync(readFileSync(`${root}/dist/assets/${f}`)).length, 0);
console.log(`bundle: ${(gzipped / 1024).toFixed(1)} KiB of JavaScript, gzipped (${scripts.length} files)`);

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  await withWallet(context, ANVIL_URL, BOB, 'Bench wallet');
  const page = await context.newPage();
  await page.goto(CAIRN_URL);
  await page.getByRole('button', { name: 'Bench wallet' }).click();
  const started = Date.now();
  await page.locator('#unlock').click();
  await page.getByRole('tab', { name: /^Requests/ }).click({ timeout: 120_000 });
  await page.locator('li.message .badge.verified').first().waitFor({ timeout: 120_000 });
  const first = Date.now() - started;
  await page.locator('li.message .badge.verified').nth(49).waitFor({ timeout: 120_000 });
  const page50 = Date.now() - started;
  console.log(`inbox of ${INBOX}: first message shown ${first} ms after unlocking, first page of 50 ${page50} ms (signature, chain checks through the wallet, fetch and decryption included)`);

  // The in-browser micro-benchmarks, from their own build, on their own origin.
  const bench = `${root}/dist-bench`;
  const server = createServer((req, res) => {
    const path = req.url === '/' ? '/index.html' : req.url;
    try {
      const body = readFileSync(`${bench}${path}`);
      res.writeHead(200, { 'content-type': path.endsWith('.js') ? 'text/javascript' : 'text/html' }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const benchPage = await browser.newPage();
  await benchPage.goto(`http://127.0.0.1:${server.address().port}/`);
  await benchPage.waitForFunction(() => document.title === 'ready');
  const r = await benchPage.evaluate(() => window.cairnBench());
  server.close();
  console.log(`decrypt: ${r.opened} envelopes opened in ${r.openMs.toFixed(0)} ms = ${r.opensPerSecond} per second`);
  console.log(`search: ${r.indexed} messages indexed in ${r.indexMs.toFixed(0)} ms; slowest of ${r.searchMsEach.length} queries ${r.searchMsMax.toFixed(2)} ms (${r.searchMsEach.map((t) => t.toFixed(2)).join(', ')} ms); the unique word found ${r.uniqueHit} message`);
} finally {
  await browser.close();
}
