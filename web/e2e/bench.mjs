// Measures the web client in headless Chromium (figures in
// docs/BENCHMARKS.md; run by `make bench-web` through benches/web_client.rs,
// which seeds the node):
// - the JavaScript the app ships, gzipped;
// - time to first render of an inbox holding INBOX messages: from the
//   unlock click to the first page (50) shown, each message fetched,
//   checked against the chain through the wallet and decrypted. The
//   senders are strangers to Bob, so they are in his Requests view, which
//   loads beside the inbox and the sent mail;
// - the same for a remembered device: from a reload to the first message
//   shown, with no prompt;
// - from Send to the message shown, verified, in the reader's open page:
//   batched (sent from Alice's page through the gateway, signed by her
//   device key) and direct (`cairn send`, one transaction), 1 s blocks;
// - envelopes opened per second, and search over 10,000 messages
//   (bench/bench.ts, the app's own code on synthetic text).

import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:http';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { withWallet } from './wallet.mjs';

const { CAIRN_URL, ANVIL_URL, BOB, INBOX, ALICE, ALICE_KEY, CONTRACT, KUBO_URL, CAIRN_BIN } = process.env;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
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
  await page.locator('#remember-device').check();
  const started = Date.now();
  await page.locator('#unlock').click();
  await page.getByRole('tab', { name: /^Requests/ }).click({ timeout: 120_000 });
  await page.locator('li.message .badge.verified').first().waitFor({ timeout: 120_000 });
  const first = Date.now() - started;
  await page.locator('li.message .badge.verified').nth(49).waitFor({ timeout: 120_000 });
  const page50 = Date.now() - started;
  console.log(`inbox of ${INBOX}: first message shown ${first} ms after unlocking, first page of 50 ${page50} ms (signatures, chain checks through the wallet, fetch and decryption included)`);

  // A remembered device: a reload opens the mail with no prompt.
  const reloaded = Date.now();
  await page.reload();
  await page.getByRole('tab', { name: /^Requests/ }).click({ timeout: 120_000 });
  await page.locator('li.message .badge.verified').first().waitFor({ timeout: 120_000 });
  console.log(`remembered device: first message shown ${Date.now() - reloaded} ms after the reload began (no prompt)`);

  // Send to shown: Alice writes, Bob's page (open on his Requests) shows it verified.
  const aliceContext = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  await withWallet(aliceContext, ANVIL_URL, ALICE, 'Alice wallet');
  const alice = await aliceContext.newPage();
  await alice.goto(CAIRN_URL);
  await alice.getByRole('button', { name: 'Alice wallet' }).click();
  await alice.locator('#unlock').click();
  await alice.getByRole('tab', { name: 'Compose' }).click({ timeout: 120_000 });
  const shown = (text) => page.locator('li.message', { hasText: text }).locator('.badge.verified').waitFor({ timeout: 120_000 });
  const batched = [];
  for (let i = 0; i < 5; i++) {
    const text = `batched ${i} ${Date.now()}`;
    await alice.locator('#to').fill(BOB);
    await alice.locator('#text').fill(text);
    const t0 = Date.now();
    await alice.locator('#send').click();
    await shown(text);
    batched.push(Date.now() - t0);
  }
  console.log(`send to shown, batched from the page: median ${median(batched)} ms (${batched.join(', ')} ms)`);
  const direct = [];
  const data = mkdtempSync(`${tmpdir()}/cairn-bench-`);
  for (let i = 0; i < 5; i++) {
    const text = `direct ${i} ${Date.now()}`;
    const t0 = Date.now();
    const cli = spawn(CAIRN_BIN, ['send', '--to', BOB, '--message', text, '--json'], {
      env: { ...process.env, CAIRN_DATA_DIR: data, CAIRN_RPC_URL: ANVIL_URL, CAIRN_CONTRACT: CONTRACT, CAIRN_PRIVATE_KEY: ALICE_KEY, CAIRN_STORE: 'kubo', CAIRN_KUBO_URL: KUBO_URL, CAIRN_API_URL: CAIRN_URL },
      stdio: 'ignore',
    });
    const exited = new Promise((resolve) => cli.on('exit', resolve));
    await shown(text);
    direct.push(Date.now() - t0);
    if ((await exited) !== 0) throw new Error('cairn send failed');
  }
  console.log(`send to shown, direct from the CLI: median ${median(direct)} ms (${direct.join(', ')} ms; the CLI's start, key derivation, upload and transaction included)`);
  await aliceContext.close();

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
