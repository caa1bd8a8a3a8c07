// The page from a node that serves TLS itself (tests/it/tls.rs starts it
// with a certificate from a test CA): Chromium trusts exactly that
// certificate's key (--ignore-certificate-errors-spki-list), loads the page
// over https://, Bob connects and unlocks, his stream runs over wss://, and
// the message Dave sent with the CLI shows verified. Exits non-zero on any
// failure, printing what it saw.

import { chromium } from 'playwright-core';
import { withWallet } from './wallet.mjs';

const { CAIRN_URL, ANVIL_URL, BOB, SPKI, FROM_CLI } = process.env;
const STEP = 60_000;

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', `--ignore-certificate-errors-spki-list=${SPKI}`],
});
let failed = false;
try {
  const context = await browser.newContext();
  await withWallet(context, ANVIL_URL, BOB, "Bob's test wallet");
  const page = await context.newPage();
  const sockets = [];
  page.on('websocket', (ws) => {
    const socket = { url: ws.url(), frames: 0 };
    sockets.push(socket);
    ws.on('framereceived', () => socket.frames++);
  });
  page.on('console', (m) => {
    if (m.type() === 'error') console.log(`console error: ${m.text()}`);
  });
  await page.goto(CAIRN_URL);
  if (!page.url().startsWith('https://')) throw new Error(`the page is at ${page.url()}`);
  await page.getByRole('button', { name: "Bob's test wallet" }).click({ timeout: STEP });
  await page.locator('#unlock').click({ timeout: STEP });
  await page.locator('.live.on').waitFor({ timeout: STEP });
  await page.getByRole('tab', { name: /^Requests/ }).click({ timeout: STEP });
  const message = page.locator('li.message', { hasText: FROM_CLI });
  await message.getByText('verified on chain').waitFor({ timeout: STEP });
  const streams = sockets.filter((s) => s.url.includes('/v1/stream'));
  if (streams.length === 0 || !streams.every((s) => s.url.startsWith('wss://'))) {
    throw new Error(`streams not over wss://: ${JSON.stringify(sockets)}`);
  }
  // The first frame names the cursor the stream starts at.
  const started = Date.now();
  while (!streams.some((s) => s.frames > 0) && Date.now() - started < STEP) await new Promise((r) => setTimeout(r, 100));
  if (!streams.some((s) => s.frames > 0)) throw new Error('no frame came over wss://');
  console.log(`ok: the page over https://, its stream over ${streams[0].url.split('?')[0]}, Dave's message verified`);
} catch (e) {
  failed = true;
  console.log(`FAIL ${e.message.split('\n')[0]}`);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
