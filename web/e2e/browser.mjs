// The web client in headless Chromium, each page with an injected test
// wallet (web/e2e/wallet.mjs) over Anvil's unlocked accounts. Run by
// tests/it/web_client.rs, which starts the node.
//
// Fails on any console error, a serious or critical accessibility
// violation, or a step that does not happen in time. Prints `sent: <text>`
// for the Rust side to read back with the CLI.

import { AxeBuilder } from '@axe-core/playwright';
import { mkdirSync, readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { deployEns, nameAccount } from './ens.mjs';
import { withWallet } from './wallet.mjs';

const { CAIRN_URL, ANVIL_URL, ALICE, BOB, CAROL, FROM_CLI, CHANNEL_TEXT, SCREENSHOTS, CHANNEL_LIES, OLDER_ALLOW, REORGED } = process.env;
const STEP = 60_000;
const BOB_LOWER = BOB.toLowerCase();
// A keystore the CLI wrote for Alice's wallet (not her registered key).
const keystore = JSON.parse(readFileSync(new URL('../../tests/vectors/keystore-v3.json', import.meta.url))).cases[0];
mkdirSync(SCREENSHOTS, { recursive: true });

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
const failures = [];

const wallets = {};
/** Console errors a step causes on purpose (the browser logs a failed request). */
const expected = [];

async function open(who, account, width) {
  const context = await browser.newContext({ viewport: { width, height: 860 } });
  wallets[who] = account ? await withWallet(context, ANVIL_URL, account, `${who}'s test wallet`) : null;
  const page = await context.newPage();
  pages.push([who, page]);
  page.on('console', (m) => {
    if (m.type() === 'error' && !expected.some((e) => e.test(m.text()))) failures.push(`${who}: console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => failures.push(`${who}: page error: ${e.message}`));
  await page.goto(CAIRN_URL);
  return page;
}

async function connectAndUnlock(page, who) {
  await page.getByRole('button', { name: `${who}'s test wallet` }).click();
  await page.locator('#unlock').click({ timeout: STEP });
}

/**
 * Opens a tab by its name, again if a re-render moved the tabs under the
 * click: the tabs' widths change while the mail loads (unread counts).
 */
async function openTab(page, name) {
  const id = (typeof name === 'string' ? name : name.source.replace('^', '')).toLowerCase();
  for (let attempt = 0; attempt < 5; attempt++) {
    await page.getByRole('tab', { name }).click({ timeout: STEP });
    const opened = await page.locator(`#tab-${id}[aria-selected="true"]`).waitFor({ timeout: 5_000 }).then(() => true, () => false);
    if (opened) return;
  }
  throw new Error(`the ${id} tab does not open`);
}

async function accessibility(page, what) {
  const { violations } = await new AxeBuilder({ page }).analyze();
  for (const v of violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')) {
    failures.push(`${what}: accessibility: ${v.id} (${v.impact}): ${v.help}`);
  }
}

async function shot(page, name) {
  await page.screenshot({ path: `${SCREENSHOTS}/${name}.png`, fullPage: true });
}

const step = async (what, action) => {
  const started = Date.now();
  await action();
  console.log(`ok: ${what} (${Date.now() - started} ms)`);
};

const pages = [];
try {
  await step('without a wallet, the page says what to install', async () => {
    const page = await open('Nobody', null, 390);
    await page.getByRole('heading', { name: 'No wallet found' }).waitFor({ timeout: STEP });
    await page.close();
  });

  // Bob on a phone-sized screen: registered with the CLI, so the key his
  // wallet derives here is already the registered one.
  const bob = await open('Bob', BOB, 390);
  // Every frame the node pushes to Bob's page, to show what it never pushes.
  const bobFrames = [];
  await bob.routeWebSocket('**/v1/stream**', (ws) => {
    const server = ws.connectToServer();
    server.onMessage((frame) => {
      bobFrames.push(JSON.parse(frame));
      ws.send(frame);
    });
  });
  await step('Bob sees the no-key state, connects and unlocks (which signs him in)', () => connectAndUnlock(bob, 'Bob'));
  const bobInbox = bob.getByRole('region', { name: 'Inbox' });
  const bobRequests = bob.getByRole('region', { name: 'Requests' });
  await step("Dave's CLI-sealed message waits in Bob's Requests, verified; Bob allows Dave, with no prompt, and it moves to his inbox", async () => {
    await openTab(bob, /^Requests/);
    const item = bobRequests.locator('li.message', { hasText: FROM_CLI });
    await item.waitFor({ timeout: STEP });
    await item.locator('.badge.verified').waitFor({ timeout: STEP });
    const prompts = wallets.Bob.prompts;
    await item.getByRole('button', { name: /^Allow/ }).click();
    await item.waitFor({ state: 'detached', timeout: STEP });
    if (wallets.Bob.prompts !== prompts) throw new Error(`allowing took ${wallets.Bob.prompts - prompts} prompts`);
    await openTab(bob, 'Inbox');
    await bobInbox.locator('li.message', { hasText: FROM_CLI }).locator('.badge.verified').waitFor({ timeout: STEP });
  });

  // Alice on a laptop-sized screen: registers from the browser without gas.
  const alice = await open('Alice', ALICE, 1280);
  await step('Alice, on another chain her wallet does not know, adds it and switches; declining the key signature is said plainly', async () => {
    // Her wallet does not know Anvil's chain either: it answers 4902, and
    // the page offers the chain as viem knows it, not an RPC the node names.
    Object.assign(wallets.Alice, { chainId: '0x1', knowsChain: false });
    await alice.getByRole('button', { name: "Alice's test wallet" }).click();
    await alice.getByRole('heading', { name: 'Wrong network' }).waitFor({ timeout: STEP });
    await alice.getByRole('button', { name: 'Switch to chain 31337' }).click();
    await alice.locator('#unlock').waitFor({ timeout: STEP });
    const [added] = wallets.Alice.added;
    if (wallets.Alice.added.length !== 1 || added.chainId !== '0x7a69' || added.rpcUrls.join() !== 'http://127.0.0.1:8545') {
      throw new Error(`wallet_addEthereumChain was not asked as expected: ${JSON.stringify(wallets.Alice.added)}`);
    }
    wallets.Alice.declineNext = true;
    await alice.locator('#unlock').click({ timeout: STEP });
    await alice.getByRole('alert').getByText('You declined the request in your wallet.').waitFor({ timeout: STEP });
  });
  await step('Alice unlocks: a second signature authorizes this device and registers her key, without gas; signing in asks nothing', async () => {
    const before = wallets.Alice.prompts;
    await alice.locator('#unlock').click({ timeout: STEP });
    await openTab(alice, 'Compose');
    await alice.locator('.signed-in').waitFor({ timeout: STEP });
    if (wallets.Alice.prompts - before !== 2) throw new Error(`unlocking took ${wallets.Alice.prompts - before} prompts, not 2`);
  });
  await accessibility(alice, 'compose');
  await shot(alice, 'compose');

  await step('writing to an address with no key is refused with the reason; while the gateway is down, the message waits, says why, and goes through once it is back', async () => {
    await alice.locator('#to').fill('0x90F79bf6EB2c4f870365E785982E1f101E93b906'); // Anvil account 3: no key
    await alice.locator('#text').fill('hello?');
    await alice.locator('#send').click();
    await alice.getByRole('alert').getByText('has no registered Cairn key yet').waitFor({ timeout: STEP });
    // The page asks the gateway for the post's id (404: it does not hold it) before it sends it again.
    expected.push(/status of 503/, /status of 404/);
    await alice.route('**/v1/posts', (route) =>
      route.fulfill({ status: 503, json: { code: 'unavailable', message: 'the gateway is restarting' } }),
    );
    await alice.locator('#to').fill(BOB);
    await alice.locator('#send').click();
    const latest = alice.locator('li.sending').first();
    await latest.locator('.waiting', { hasText: 'gateway is unavailable' }).waitFor({ timeout: STEP });
    await latest.locator('.waiting', { hasText: 'Sending the same signed message again' }).waitFor({ timeout: STEP });
    await alice.unroute('**/v1/posts');
    await latest.locator('.state', { hasText: 'confirmed' }).waitFor({ timeout: STEP });
    expected.splice(-2);
  });
  await step('a file too large for a message is said as soon as it is picked, and Send waits until it is removed', async () => {
    await alice.locator('#attachment').setInputFiles({ name: 'treasury.csv', mimeType: 'text/csv', buffer: Buffer.alloc(1_100_000, 0x41) });
    await alice.locator('#limit.over', { hasText: 'Too large by' }).waitFor({ timeout: STEP });
    if (!(await alice.locator('#send').isDisabled())) throw new Error('Send is enabled for a message too large');
    await alice.getByRole('button', { name: 'Remove' }).click();
    await alice.locator('#limit:not(.over)', { hasText: 'of 1,024 KiB' }).waitFor({ timeout: STEP });
    if (await alice.locator('#send').isDisabled()) throw new Error('Send stays disabled after the file was removed');
  });
  const text = `gm Bob, sealed in the browser at ${new Date().toISOString()}`;
  await step('Alice sends; the post goes accepted, anchored, confirmed', async () => {
    await alice.locator('#to').fill(BOB);
    await alice.locator('#text').fill(text);
    await alice.locator('#attachment').setInputFiles({ name: 'minutes.txt', mimeType: 'text/plain', buffer: Buffer.from('quorum reached') });
    await alice.locator('#send').click();
    await alice.locator('li.sending').first().locator('.state', { hasText: 'confirmed' }).waitFor({ timeout: STEP });
  });
  await step("Alice checks its inclusion proof in the browser", async () => {
    const latest = alice.locator('li.sending').first();
    await latest.getByRole('button', { name: 'Check its inclusion proof' }).click();
    await latest.getByText('inclusion verified on chain').waitFor({ timeout: STEP });
  });
  await shot(alice, 'sending');
  await step('Bob, who allowed Alice (with the CLI), sees her typing; nothing of it is stored', async () => {
    await alice.locator('#to').fill(BOB);
    await alice.locator('#text').fill('still typing');
    await bob.locator('.typing', { hasText: `${ALICE.slice(0, 10)}…${ALICE.slice(-8)} is typing` }).waitFor({ timeout: STEP });
    await alice.locator('#text').fill('');
  });

  await step("Bob's open page shows it and its attachment, decrypted and verified, without a reload", async () => {
    const item = bobInbox.locator('li.message', { hasText: text });
    await item.waitFor({ timeout: STEP });
    await item.locator('.badge.verified').waitFor({ timeout: STEP });
    await item.getByRole('link', { name: 'minutes.txt (14 bytes)' }).waitFor({ timeout: STEP });
    // Screen readers hear of it too, in a live region (never its text).
    const announced = await bob.locator('#announce').textContent();
    if (!/^New message in your inbox/.test(announced ?? '')) throw new Error(`the arrival was not announced: ${announced}`);
    if (announced.includes(text)) throw new Error('the announcement read out the text');
  });
  await accessibility(bob, 'inbox');
  await shot(bob, 'inbox-390');
  const reply = `Agreed, Alice; replied from the browser at ${new Date().toISOString()}`;
  await step("Bob replies to Alice's message; Alice's page shows his reply under a quote of hers, in her inbox: writing to him allowed him", async () => {
    await bobInbox.locator('li.message', { hasText: text }).getByRole('button', { name: /^Reply to/ }).click();
    await bob.locator('.replying .quote', { hasText: 'gm Bob, sealed in the browser' }).waitFor({ timeout: STEP });
    const to = await bob.locator('#to').inputValue();
    if (to !== ALICE) throw new Error(`the reply is addressed to ${to}, not Alice`);
    await bob.locator('#text').fill(reply);
    await bob.locator('#send').click();
    await bob.locator('.sending .state', { hasText: 'confirmed' }).waitFor({ timeout: STEP });
    // Alice wrote to Bob, which allowed him (signed by her device key, no
    // prompt): his answer comes to her inbox, not her Requests.
    await openTab(alice, /^Inbox/);
    const answered = alice.getByRole('region', { name: 'Inbox' }).locator('li.message', { hasText: reply });
    await answered.locator('.badge.verified').waitFor({ timeout: STEP });
    await answered.locator('.quote', { hasText: 'In reply to' }).filter({ hasText: 'gm Bob, sealed in the browser' }).waitFor({ timeout: STEP });
    await openTab(alice, 'Compose');
  });
  console.log(`replied: ${reply}`);
  await step("Bob finds Alice's message by a word of it, searched in the browser", async () => {
    await openTab(bob, 'Search');
    await bob.locator('#query').fill('sealed brow');
    await bob.locator('li.result', { hasText: text }).waitFor({ timeout: STEP });
    if ((await bob.locator('li.result').count()) !== 1) throw new Error('the search found more than the one message');
  });
  await accessibility(bob, 'search');
  await step('a search result opens the message in its thread', async () => {
    await bob.locator('li.result', { hasText: text }).getByRole('button', { name: 'Open in its chat' }).click();
    await bob.getByRole('region', { name: new RegExp(`^Chat with ${ALICE.slice(0, 10)}`) }).locator('li.line.focused', { hasText: text }).waitFor({ timeout: STEP });
    await bob.locator('#chats-back').click();
    await openTab(bob, 'Search');
    await bob.locator('li.result', { hasText: text }).waitFor({ timeout: STEP });
  });
  await step('Bob signed in to the node with Sign-In with Ethereum; the session is an HttpOnly cookie', async () => {
    await bob.getByText('signed in').waitFor({ timeout: STEP });
    const cookies = await bob.context().cookies();
    const session = cookies.find((c) => c.name === 'cairn_session');
    if (!session || !session.httpOnly || session.sameSite !== 'Strict') throw new Error(`bad session cookie: ${JSON.stringify(session)}`);
    if (await bob.evaluate(() => document.cookie.includes('cairn_session'))) throw new Error('the page can read the session cookie');
  });
  await step("Bob's session is ended from elsewhere: his page says so from the stream's close, not a minute later, and he signs in again", async () => {
    const session = (await bob.context().cookies()).find((c) => c.name === 'cairn_session');
    // Logged out from this script with the same cookie, so the page is not told.
    const out = await fetch(`${CAIRN_URL}/v1/auth/logout`, { method: 'POST', headers: { cookie: `${session.name}=${session.value}` } });
    if (!out.ok) throw new Error(`logout: ${out.status}`);
    // The stream asks at each heartbeat (15 s) and closes with 4401; the
    // page's own check comes every 60 s.
    await bob.getByRole('alert').getByText('Your sign-in has ended: sign in again.').waitFor({ timeout: 40_000 });
    if ((await bob.locator('.signed-in').count()) !== 0) throw new Error('"signed in" is still shown');
    await bob.locator('#sign-in').click();
    await bob.locator('.signed-in').waitFor({ timeout: STEP });
  });
  await step('a message that arrives while Bob looks elsewhere is unread: in the title, on the favicon and the Inbox tab, until he opens it', async () => {
    if ((await bob.title()) !== 'Cairn') throw new Error(`unread before anything arrived: ${await bob.title()}`);
    await alice.locator('#to').fill(BOB);
    await alice.locator('#text').fill('one more thing, Bob');
    await alice.locator('#send').click();
    await bob.waitForFunction(() => document.title === '(1) Cairn', null, { timeout: STEP });
    await bob.getByRole('tab', { name: 'Inbox (1 unread)' }).waitFor({ timeout: STEP });
    const icon = decodeURIComponent((await bob.locator('link[rel="icon"]').getAttribute('href')) ?? '');
    if (!icon.includes('>1</text>')) throw new Error(`the favicon has no badge: ${icon}`);
    // A reload keeps the count: the mark is on this device.
    await bob.reload();
    await connectAndUnlock(bob, 'Bob');
    await openTab(bob, 'Search');
    await bob.waitForFunction(() => document.title === '(1) Cairn', null, { timeout: STEP });
    await openTab(bob, /^Inbox/);
    await bobInbox.locator('li.message', { hasText: 'one more thing, Bob' }).waitFor({ timeout: STEP });
    await bob.waitForFunction(() => document.title === 'Cairn', null, { timeout: STEP });
  });
  await step('Alice and Bob chat in one thread: oldest first, Enter sends, a message shows at once with its state, a reply quotes; his answer joins her thread, not her Requests', async () => {
    await openTab(bob, /^Chats/);
    await openTab(alice, /^Chats/);
    await alice.getByRole('button', { name: new RegExp(`^Chat with ${BOB.slice(0, 10)}`) }).click();
    const thread = alice.getByRole('region', { name: /^Chat with/ });
    await thread.locator('li.line.theirs', { hasText: reply }).locator('.quote', { hasText: 'gm Bob, sealed' }).waitFor({ timeout: STEP });
    const order = await thread.locator('li.line p.text').allTextContents();
    const [first, answer] = [order.findIndex((t) => t.startsWith('gm Bob, sealed')), order.indexOf(reply)];
    if (first < 0 || answer < first) throw new Error(`the thread is not oldest first: ${JSON.stringify(order)}`);
    await alice.locator('#chat-text').fill('Shall we vote on Friday?');
    await alice.locator('#chat-text').press('Enter');
    await thread.locator('li.line.travelling', { hasText: 'Shall we vote on Friday?' }).waitFor({ timeout: STEP });
    await thread.locator('li.line.mine:not(.travelling)', { hasText: 'Shall we vote on Friday?' }).waitFor({ timeout: STEP });
    // Bob, on his conversation list, sees it unread at the top.
    const row = bob.getByRole('button', { name: new RegExp(`^Chat with ${ALICE.slice(0, 10)}.* 1 unread`) });
    await row.waitFor({ timeout: STEP });
    await bob.waitForFunction(() => document.title === '(1) Cairn', null, { timeout: STEP });
    await row.click();
    const bobThread = bob.getByRole('region', { name: /^Chat with/ });
    await bob.waitForFunction(() => document.title === 'Cairn', null, { timeout: STEP });
    await bobThread.locator('li.line.theirs', { hasText: 'Shall we vote on Friday?' }).getByRole('button', { name: /^Reply/ }).click();
    await bob.locator('#chat-text').fill('Friday works.');
    await bob.locator('#chat-text').press('Shift+Enter');
    await bob.locator('#chat-text').pressSequentially('See you there.');
    if ((await bobThread.locator('li.line.travelling').count()) !== 0) throw new Error('Shift+Enter sent the message');
    await bob.locator('#chat-text').press('Enter');
    const sent = bobThread.locator('li.line.mine:not(.travelling)', { hasText: 'See you there.' });
    await sent.locator('.quote', { hasText: 'Shall we vote on Friday?' }).waitFor({ timeout: STEP });
    if (!(await sent.locator('p.text').textContent()).includes('Friday works.\nSee you there.')) throw new Error('the new line was lost');
    await thread.locator('li.line.theirs', { hasText: 'See you there.' }).waitFor({ timeout: STEP });
  });
  await accessibility(alice, 'chat');
  await shot(alice, 'chat-1280');
  await shot(bob, 'chat-390');
  await bob.locator('#chats-back').click();
  await accessibility(bob, 'chats');
  await shot(bob, 'chats-390');
  await step('a channel is a row of Chats too, and opens in Channels', async () => {
    const row = bob.getByRole('list', { name: 'Your channels' }).getByRole('button').first();
    const name = (await row.locator('.channel-name').textContent()).replace(/^# /, '');
    await row.click();
    await bob.getByRole('region', { name: `Channel ${name}` }).waitFor({ timeout: STEP });
    await openTab(bob, /^Chats/);
  });
  await step('Alice names Bob on her device: the name shows beside his address, never instead of it', async () => {
    const thread = alice.getByRole('region', { name: /^Chat with/ });
    await alice.locator('#label-input').fill('Bob, treasurer');
    await alice.locator('#label-save').click();
    const head = thread.locator('.thread-head .person');
    await head.locator('.label', { hasText: 'Bob, treasurer' }).waitFor({ timeout: STEP });
    if (!(await head.textContent()).includes(BOB.slice(0, 10))) throw new Error('the label replaced the address');
  });
  await step("Alice's messages on their way survive a reload (and so does her name for Bob): one the gateway took is followed to its confirmation, one whose answer was lost is sent again as it was and lands once, one it refused waits with Retry", async () => {
    const thread = alice.getByRole('region', { name: /^Chat with/ });
    // Her name for Bob comes first in the row, then his address.
    const openBob = () => alice.getByRole('button', { name: new RegExp(`^Chat with Bob, treasurer ${BOB.slice(0, 10)}`) }).click({ timeout: STEP });
    // The gateway takes the first, but its proof is held, so it stays accepted.
    expected.push(/status of 503/, /status of 400/);
    await alice.route('**/v1/proofs/**', (route) => route.fulfill({ status: 503, json: { code: 'unavailable', message: 'held by the test' } }));
    await alice.locator('#chat-text').fill('kept across a reload');
    await alice.locator('#chat-text').press('Enter');
    await thread.locator('li.line.travelling.accepted', { hasText: 'kept across a reload' }).waitFor({ timeout: STEP });
    // A refusal, while the gateway does not hold the post, is a failure.
    await alice.route('**/v1/posts', (route) => route.fulfill({ status: 400, json: { code: 'invalid_post', message: 'refused by the test' } }));
    await alice.locator('#chat-text').fill('refused, then retried');
    await alice.locator('#chat-text').press('Enter');
    await thread.locator('li.line.travelling.failed', { hasText: 'refused, then retried' }).waitFor({ timeout: STEP });
    await alice.unroute('**/v1/posts');
    // The gateway takes this one, but its answer is lost (as when it is
    // killed after its commit): no failure, the same signed post again.
    await alice.route('**/v1/posts', async (route) => {
      // A reload or the unroute below may end the request under the handler.
      await route
        .fetch()
        .then(() => route.fulfill({ status: 503, json: { code: 'unavailable', message: 'the answer was lost' } }))
        .catch(() => {});
    });
    await alice.locator('#chat-text').fill('answer lost, sent again');
    await alice.locator('#chat-text').press('Enter');
    const resending = thread.locator('li.line.travelling.sending', { hasText: 'answer lost, sent again' });
    await resending.locator('.waiting', { hasText: 'Sending the same signed message again' }).waitFor({ timeout: STEP });
    await alice.reload();
    await connectAndUnlock(alice, 'Alice');
    await openBob();
    await thread.locator('.thread-head .label', { hasText: 'Bob, treasurer' }).waitFor({ timeout: STEP });
    await thread.locator('li.line.travelling.accepted', { hasText: 'kept across a reload' }).waitFor({ timeout: STEP });
    await resending.waitFor({ timeout: STEP });
    const failed = thread.locator('li.line.travelling.failed', { hasText: 'refused, then retried' });
    await failed.waitFor({ timeout: STEP });
    await alice.unroute('**/v1/proofs/**');
    await alice.unroute('**/v1/posts');
    await thread.locator('li.line.mine:not(.travelling)', { hasText: 'kept across a reload' }).waitFor({ timeout: STEP });
    await thread.locator('li.line.mine:not(.travelling)', { hasText: 'answer lost, sent again' }).waitFor({ timeout: STEP });
    await failed.getByRole('button', { name: 'Retry' }).click();
    await thread.locator('li.line.mine:not(.travelling)', { hasText: 'refused, then retried' }).waitFor({ timeout: STEP });
    if ((await thread.locator('li.line.travelling', { hasText: /kept across a reload|refused, then retried|answer lost/ }).count()) !== 0) {
      throw new Error('a confirmed message is still shown as on its way');
    }
    // Handed over at least twice, anchored once.
    const landed = await thread.locator('li.line.mine', { hasText: 'answer lost, sent again' }).count();
    if (landed !== 1) throw new Error(`the resent message is in the thread ${landed} times`);
    expected.splice(-2);
  });
  await openTab(alice, 'Compose');
  await step('notifications, turned on by Bob, come from the service worker while his page is hidden, naming Alice and showing no text unless he asks', async () => {
    const visibility = (state) =>
      bob.evaluate((state) => {
        Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => state });
        document.dispatchEvent(new Event('visibilitychange'));
      }, state);
    const notes = () =>
      bob.evaluate(async () => {
        const worker = await navigator.serviceWorker.getRegistration('/assets/sw.js');
        return ((await worker?.getNotifications()) ?? []).map((n) => ({ title: n.title, body: n.body }));
      });
    if ((await notes()).length !== 0) throw new Error('notifications before they were turned on');
    await bob.context().grantPermissions(['notifications'], { origin: CAIRN_URL });
    await bob.locator('#notify-on').click();
    await bob.locator('#notify-text').waitFor({ timeout: STEP });
    await visibility('hidden');
    await alice.locator('#to').fill(BOB);
    await alice.locator('#text').fill('a note for a hidden page');
    await alice.locator('#send').click();
    let shown = [];
    for (const until = Date.now() + STEP; shown.length === 0 && Date.now() < until; await bob.waitForTimeout(250)) shown = await notes();
    const [note] = shown;
    if (!note) throw new Error('no notification was shown');
    if (!note.title.startsWith(`New message from ${ALICE.slice(0, 10)}`) || note.body !== 'Open Cairn to read it.') {
      throw new Error(`the notification says ${JSON.stringify(note)}`);
    }
    await visibility('visible');
  });
  await shot(bob, 'search-390');

  const fromBrowser = `gm dao, sealed in the browser at ${new Date().toISOString()}`;
  await step("Bob reads Dave's channel post, verified and opened with the epoch key, and posts back; it arrives live", async () => {
    await openTab(bob, 'Channels');
    await bob.getByRole('button', { name: 'dao (2 members)' }).click({ timeout: STEP });
    const channel = bob.getByRole('region', { name: 'Channel dao' });
    await channel.locator('li.channel-post', { hasText: CHANNEL_TEXT }).locator('.badge.verified').waitFor({ timeout: STEP });
    await bob.locator('#channel-text').fill(fromBrowser);
    await bob.locator('#channel-post').click();
    await channel.locator('li.channel-post', { hasText: fromBrowser }).locator('.badge.verified').waitFor({ timeout: STEP });
  });
  const inFive = `Bob in five, from the browser at ${new Date().toISOString()}`;
  await step('Bob reads all ten posts of the five members, direct and batched, and adds his own', async () => {
    await bob.getByRole('button', { name: 'five (5 members)' }).click();
    const five = bob.getByRole('region', { name: 'Channel five' });
    for (let i = 0; i < 5; i++) {
      for (const how of ['directly', 'batched']) {
        await five.locator('li.channel-post', { hasText: `member ${i} of five, ${how}` }).locator('.badge.verified').waitFor({ timeout: STEP });
      }
    }
    await bob.locator('#channel-text').fill(inFive);
    await bob.locator('#channel-post').click();
    await five.locator('li.channel-post', { hasText: inFive }).locator('.badge.verified').waitFor({ timeout: STEP });
    // A thread: oldest at the top, each post with its time and its sender (his own as "You").
    const order = await five.locator('li.channel-post p.text').allTextContents();
    if (!(order.indexOf('member 0 of five, directly') < order.indexOf('member 4 of five, directly') && order.indexOf(inFive) === order.length - 1)) {
      throw new Error(`the channel is not oldest first: ${JSON.stringify(order)}`);
    }
    if ((await five.locator('li.channel-post time').count()) !== order.length) throw new Error('a channel post has no time');
    await five.locator('li.channel-post.mine', { hasText: inFive }).getByText('You').waitFor({ timeout: STEP });
    // Its posts are in search, and a result opens the channel.
    await openTab(bob, 'Search');
    await bob.locator('#query').fill('member 3 of five');
    await bob.locator('li.result', { hasText: 'member 3 of five, batched' }).getByRole('button', { name: 'Open in # five' }).click();
    await bob.getByRole('region', { name: 'Channel five' }).locator('li.channel-post', { hasText: 'member 3 of five' }).first().waitFor({ timeout: STEP });
  });
  console.log(`five: ${inFive}`);
  await step('in a token-gated channel, Bob is told why he cannot post', async () => {
    await bob.getByRole('button', { name: 'holders (1 member)' }).click();
    await bob.getByRole('status').getByText(/at least 100 of the ERC-20 token .* you hold 0/).waitFor({ timeout: STEP });
    if ((await bob.locator('#channel-text').count()) !== 0) throw new Error('a non-holder is offered to post');
    await bob.getByRole('button', { name: 'dao (2 members)' }).click();
  });
  await accessibility(bob, 'channel');
  await shot(bob, 'channel-390');
  console.log(`channel: ${fromBrowser}`);

  const carol = await open('Carol', CAROL, 390);
  const carolSends = async (text) => {
    await carol.locator('#to').fill(BOB);
    await carol.locator('#text').fill(text);
    await carol.locator('#send').click();
    await carol.locator('.sending').first().locator('.state', { hasText: 'confirmed' }).waitFor({ timeout: STEP });
  };
  await step("a stranger, Carol, registers and writes to Bob: it lands in his Requests, live, not in his inbox", async () => {
    await connectAndUnlock(carol, 'Carol');
    await openTab(carol, 'Compose');
    await carolSends('Carol here, a first message');
    await openTab(bob, /^Requests/);
    await bobRequests.locator('li.message', { hasText: 'Carol here' }).locator('.badge.verified').waitFor({ timeout: STEP });
    if (!bobFrames.some((f) => f.message?.from === CAROL.toLowerCase())) throw new Error('the frame log missed Carol');
  });
  await accessibility(bob, 'requests');
  await shot(bob, 'requests-390');
  await step('Bob blocks Carol, with no prompt; her next message is never pushed to him', async () => {
    const prompts = wallets.Bob.prompts;
    const request = bobRequests.locator('li.message', { hasText: 'Carol here' });
    await request.getByRole('button', { name: /^Block/ }).click();
    await request.waitFor({ state: 'detached', timeout: STEP });
    if (wallets.Bob.prompts !== prompts) throw new Error(`blocking took ${wallets.Bob.prompts - prompts} prompts`);
    // The keyboard keeps its place: the next decision, or the Requests tab.
    const focus = await bob.evaluate(() => ({ id: document.activeElement?.id, inConsent: !!document.activeElement?.closest('.consent') }));
    if (focus.id !== 'tab-requests' && !focus.inConsent) throw new Error(`the focus was lost after Block: ${JSON.stringify(focus)}`);
    const blockedAt = bobFrames.length;
    await carolSends('Carol again, after the block');
    // Alice writes after Carol; once Bob has Alice's message, Carol's would have come before it.
    await alice.locator('#to').fill(BOB);
    await alice.locator('#text').fill('after Carol was blocked');
    await alice.locator('#send').click();
    await openTab(bob, 'Inbox');
    await bobInbox.locator('li.message', { hasText: 'after Carol was blocked' }).waitFor({ timeout: STEP });
    const pushed = bobFrames.slice(blockedAt).filter((f) => f.message?.from === CAROL.toLowerCase());
    if (pushed.length !== 0) throw new Error(`Carol was pushed to Bob after the block: ${JSON.stringify(pushed)}`);
    if ((await bob.getByText('Carol again').count()) !== 0) throw new Error("Carol's message is shown");
  });

  await step('Bob creates a channel for Alice, Carol and himself in the page, with no prompt and no ETH; Alice reads his post', async () => {
    const prompts = wallets.Bob.prompts;
    await openTab(bob, 'Channels');
    await bob.getByText('New channel').click();
    await bob.locator('#channel-name').fill('browser-made');
    await bob.locator('#channel-members').fill(`${ALICE} ${CAROL}`);
    await bob.locator('#channel-create').click();
    await bob.getByRole('button', { name: 'browser-made (3 members)' }).click({ timeout: STEP });
    const channel = bob.getByRole('region', { name: 'Channel browser-made' });
    await bob.locator('#channel-text').fill('first, for Alice and Bob');
    await bob.locator('#channel-post').click();
    await channel.locator('li.channel-post', { hasText: 'first, for Alice and Bob' }).locator('.badge.verified').waitFor({ timeout: STEP });
    // Created, its key bundle uploaded and published, and a post: all signed by Bob's device key.
    if (wallets.Bob.prompts !== prompts) throw new Error(`creating a channel and posting took ${wallets.Bob.prompts - prompts} prompts`);
    await openTab(alice, 'Channels');
    await alice.getByRole('button', { name: 'browser-made (3 members)' }).click({ timeout: STEP });
    await alice.locator('li.channel-post', { hasText: 'first, for Alice and Bob' }).locator('.badge.verified').waitFor({ timeout: STEP });
    await shot(alice, 'channel-1280');
    // Alice's conversations, on a laptop: the new channel is a row too.
    await openTab(alice, 'Chats');
    if (await alice.locator('#chats-back').count()) await alice.locator('#chats-back').click();
    await alice.getByText('browser-made').first().waitFor({ timeout: STEP });
    await shot(alice, 'chats-1280');
    await openTab(alice, 'Channels');
    await alice.getByRole('button', { name: 'browser-made (3 members)' }).click({ timeout: STEP });
  });
  await step("Carol, whom Bob blocked, posts to the channel: Alice's Chats row shows it unread, with its text, until she opens it; Bob never sees it", async () => {
    await openTab(alice, /^Chats/);
    if (await alice.locator('#chats-back').count()) await alice.locator('#chats-back').click();
    const row = alice.getByRole('list', { name: 'Your channels' }).getByRole('button', { name: /browser-made/ });
    await row.locator('.last', { hasText: 'first, for Alice and Bob' }).waitFor({ timeout: STEP });
    await openTab(carol, 'Channels');
    await carol.getByRole('button', { name: 'browser-made (3 members)' }).click({ timeout: STEP });
    await carol.locator('#channel-text').fill('Carol in the channel');
    await carol.locator('#channel-post').click();
    await carol.locator('li.channel-post', { hasText: 'Carol in the channel' }).locator('.badge.verified').waitFor({ timeout: STEP });
    await row.locator('.last', { hasText: 'Carol in the channel' }).waitFor({ timeout: STEP });
    await row.locator('.unread', { hasText: '1' }).waitFor({ timeout: STEP });
    await row.click();
    await alice.locator('li.channel-post', { hasText: 'Carol in the channel' }).locator('.badge.verified').waitFor({ timeout: STEP });
    await openTab(alice, /^Chats/);
    if ((await row.locator('.unread').count()) !== 0) throw new Error('an opened channel still counts unread');
    await openTab(alice, 'Channels');
    await bob.waitForTimeout(2000);
    if ((await bob.getByText('Carol in the channel').count()) !== 0) throw new Error("Bob's page shows a post of Carol's, whom he blocked");
  });
  await carol.close();
  await step('Bob removes Alice, with no prompt; the key rotates, and she reads the old post but not the next', async () => {
    const prompts = wallets.Bob.prompts;
    await bob.getByRole('button', { name: new RegExp(`^Remove ${ALICE}$`, 'i') }).click();
    await bob.getByRole('region', { name: 'Channel browser-made' }).getByText('key epoch 2').waitFor({ timeout: STEP });
    if (wallets.Bob.prompts !== prompts) throw new Error(`removing a member took ${wallets.Bob.prompts - prompts} prompts`);
    await bob.locator('#channel-text').fill('after Alice left');
    await bob.locator('#channel-post').click();
    await bob.locator('li.channel-post', { hasText: 'after Alice left' }).locator('.badge.verified').waitFor({ timeout: STEP });
    // Alice's open page gets it live, verified on chain, and cannot open it.
    await alice.locator('li.channel-post', { hasText: 'not a member in this epoch' }).waitFor({ timeout: STEP });
    if ((await alice.getByText('after Alice left').count()) !== 0) throw new Error('Alice read a post sealed after she left');
    await alice.locator('li.channel-post', { hasText: 'first, for Alice and Bob' }).waitFor({ timeout: STEP });
  });
  await step('Bob adds a wallet with no messaging key, with no prompt: the page names it, and rotating starts a new epoch', async () => {
    const prompts = wallets.Bob.prompts;
    const region = bob.getByRole('region', { name: 'Channel browser-made' });
    await bob.locator('#member-add').fill('0x000000000000000000000000000000000000dEaD');
    await bob.locator('#member-add-button').click();
    await region.getByText('key epoch 3').waitFor({ timeout: STEP });
    const notice = bob.getByRole('status', { name: 'Members left out of the key' });
    await notice.getByText('1 cannot read this epoch').waitFor({ timeout: STEP });
    await bob.locator('#rotate-key').click();
    await region.getByText('key epoch 4').waitFor({ timeout: STEP });
    await notice.getByText('1 cannot read this epoch').waitFor({ timeout: STEP });
    await bob.locator('#channel-text').fill('after the rotation');
    await bob.locator('#channel-post').click();
    await bob.locator('li.channel-post', { hasText: 'after the rotation' }).locator('.badge.verified').waitFor({ timeout: STEP });
    await bob.locator('li.channel-post', { hasText: 'after Alice left' }).locator('.badge.verified').waitFor({ timeout: STEP });
    if (wallets.Bob.prompts !== prompts) throw new Error(`adding a member and rotating took ${wallets.Bob.prompts - prompts} prompts`);
  });
  await accessibility(bob, 'channel admin');
  await shot(bob, 'channel-admin-390');
  await bob.setViewportSize({ width: 1280, height: 860 });
  await shot(bob, 'inbox-1280');
  await step('switching accounts in the wallet locks the page and shows the new account', async () => {
    wallets.Bob.account = ALICE;
    await bob.evaluate((alice) => window.__walletEmit('accountsChanged', [alice]), ALICE);
    await bob.locator('#unlock').waitFor({ timeout: STEP });
    await bob.getByTitle(ALICE).waitFor({ timeout: STEP });
    if ((await bob.getByText(FROM_CLI).count()) !== 0) throw new Error("Bob's mail is still shown");
  });
  await step('a node that names another contract than the one this browser first trusted is refused', async () => {
    const page = await open('Bob (switched contract)', BOB, 390);
    // A fresh profile trusts on first use; this one pins the real contract by URL.
    await page.route('**/v1/config', async (route) => {
      const config = await (await route.fetch()).json();
      await route.fulfill({ json: { ...config, contract: '0x000000000000000000000000000000000000dEaD' } });
    });
    const config = await (await fetch(`${CAIRN_URL}/v1/config`)).json();
    await page.goto(`${CAIRN_URL}/?contract=${config.contract}`);
    await page.getByRole('alert').getByText('but this page trusts').waitFor({ timeout: STEP });
    if ((await page.getByRole('button', { name: /test wallet/ }).count()) !== 0) throw new Error('the page went on');
    await page.close();
    // A browser that pinned the real contract, then meets a node that names
    // another one and no chain at all (so no pin key would match).
    const pinned = await open('Bob (no chain named)', BOB, 390);
    await pinned.getByRole('button', { name: "Bob (no chain named)'s test wallet" }).waitFor({ timeout: STEP });
    await pinned.route('**/v1/config', async (route) => {
      const config = await (await route.fetch()).json();
      await route.fulfill({ json: { ...config, contract: '0x000000000000000000000000000000000000dEaD', chainId: null } });
    });
    await pinned.reload();
    await pinned.getByRole('alert').getByText('names no chain').waitFor({ timeout: STEP });
    if ((await pinned.getByRole('button', { name: /test wallet/ }).count()) !== 0) throw new Error('the page went on');
    await pinned.close();
  });
  await step('a node that lies about the sender is caught: the message shows as FORGED, its text hidden', async () => {
    // Mallory's node: its list and its stream say every message is Alice's.
    const liar = await open('Bob (lying node)', BOB, 390);
    await liar.route('**/v1/inbox/**', async (route) => {
      const page = await (await route.fetch()).json();
      for (const m of page.messages) m.from = ALICE;
      await route.fulfill({ json: page });
    });
    await liar.routeWebSocket('**/v1/stream**', (ws) => {
      const server = ws.connectToServer();
      server.onMessage((frame) => {
        const event = JSON.parse(frame);
        if (event.message) event.message.from = ALICE;
        ws.send(JSON.stringify(event));
      });
    });
    await connectAndUnlock(liar, 'Bob (lying node)');
    const forged = liar.locator('li.message.forged', { hasText: 'The chain contradicts the node' });
    await forged.first().waitFor({ timeout: STEP });
    if ((await liar.getByText(FROM_CLI).count()) !== 0) throw new Error('the forged message text was shown');
    await liar.close();
  });
  await step('a node that names a block the chain has not proven: sender and text hidden, shown once a new block verifies it', async () => {
    // Mallory's node says Dave's message is Alice's, in a block the wallet's
    // RPC cannot find: the check ends pending, and pending is not proven.
    const liar = await open('Bob (unknown block)', BOB, 390);
    await liar.route('**/v1/inbox/**', async (route) => {
      const page = await (await route.fetch()).json();
      for (const m of page.messages) {
        m.from = ALICE;
        m.blockHash = `0x${'ab'.repeat(32)}`;
      }
      await route.fulfill({ json: page });
    });
    await connectAndUnlock(liar, 'Bob (unknown block)');
    await liar.locator('li.message.pending', { hasText: 'Sender not proven' }).first().waitFor({ timeout: STEP });
    if ((await liar.getByText(FROM_CLI).count()) !== 0) throw new Error('a pending message showed its text');
    if ((await liar.locator('li.message').getByTitle(ALICE).count()) !== 0) throw new Error("a pending message showed the node's claimed sender");
    await liar.close();
    // An honest node whose blocks the wallet's RPC has not seen yet: pending,
    // hidden, and shown verified after the next block, with no reload.
    const behind = await open('Bob (RPC behind)', BOB, 390);
    wallets['Bob (RPC behind)'].lagging = true;
    await connectAndUnlock(behind, 'Bob (RPC behind)');
    const inbox = behind.getByRole('region', { name: 'Inbox' });
    await inbox.locator('li.message.pending').first().waitFor({ timeout: STEP });
    if ((await behind.getByText(FROM_CLI).count()) !== 0) throw new Error('a pending message showed its text');
    wallets['Bob (RPC behind)'].lagging = false;
    await fetch(ANVIL_URL, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'evm_mine', params: [] }) });
    await inbox.locator('li.message', { hasText: FROM_CLI }).locator('.badge.verified').waitFor({ timeout: STEP });
    await behind.close();
  });
  await step('a node that swaps the blocks of two messages is caught: both show as FORGED, their text hidden', async () => {
    const liar = await open('Bob (swapped blocks)', BOB, 390);
    await liar.route('**/v1/inbox/**', async (route) => {
      const page = await (await route.fetch()).json();
      // The two oldest messages (Dave's from the CLI among them) from
      // senders Bob has not blocked, so that both are shown.
      const [a, b] = page.messages.filter((m) => m.from !== CAROL.toLowerCase()).sort((x, y) => x.block - y.block || x.logIndex - y.logIndex);
      if (a && b) for (const field of ['cid', 'digest']) [a[field], b[field]] = [b[field], a[field]];
      await route.fulfill({ json: page });
    });
    await connectAndUnlock(liar, 'Bob (swapped blocks)');
    const forged = liar.locator('li.message.forged', { hasText: 'The chain contradicts the node' });
    await forged.nth(1).waitFor({ timeout: STEP });
    if ((await liar.getByText(FROM_CLI).count()) !== 0) throw new Error("a swapped block's text was shown");
    await liar.close();
  });
  await step('presence a node invents for a sender Bob blocked is dropped by his own list', async () => {
    const liar = await open('Bob (invented presence)', BOB, 390);
    const timers = [];
    await liar.routeWebSocket('**/v1/stream**', (ws) => {
      const server = ws.connectToServer();
      server.onMessage((frame) => ws.send(frame));
      ws.onMessage((frame) => server.send(frame));
      // Every second, "Carol (blocked) and Alice (allowed) are typing".
      const at = () => Math.floor(Date.now() / 1000);
      timers.push(
        setInterval(() => {
          for (const from of [CAROL, ALICE]) ws.send(JSON.stringify({ type: 'presence', from: from.toLowerCase(), state: 'typing', at: at() }));
        }, 1000),
      );
    });
    await connectAndUnlock(liar, 'Bob (invented presence)');
    const shortOf = (a) => `${a.slice(0, 10)}…${a.slice(-8)}`;
    await liar.locator('.typing', { hasText: `${shortOf(ALICE)} is typing` }).waitFor({ timeout: STEP });
    if ((await liar.locator('.typing', { hasText: shortOf(CAROL) }).count()) !== 0) throw new Error('presence from a blocked sender was shown');
    // Timers left running would keep this script from ever exiting.
    for (const timer of timers) clearInterval(timer);
    await liar.close();
  });
  await step('a node that withholds batch manifests: batched posts stay unproven, their text hidden', async () => {
    expected.push(/status of 404/);
    const liar = await open('Bob (withheld manifests)', BOB, 390);
    const manifest = new TextEncoder().encode('CAIRNMF1');
    await liar.route('**/ipfs/**', async (route) => {
      const answer = await route.fetch();
      const body = new Uint8Array(await answer.body());
      const isManifest = manifest.every((b, i) => body[i] === b);
      if (isManifest) await route.fulfill({ status: 404, json: { code: 'block_not_found', message: 'withheld' } });
      else await route.fulfill({ response: answer, body: Buffer.from(body) });
    });
    await connectAndUnlock(liar, 'Bob (withheld manifests)');
    await openTab(liar, 'Channels');
    await liar.getByRole('button', { name: 'five (5 members)' }).click({ timeout: STEP });
    const five = liar.getByRole('region', { name: 'Channel five' });
    await five.locator('li.channel-post', { hasText: 'member 0 of five, directly' }).locator('.badge.verified').waitFor({ timeout: STEP });
    await liar.waitForTimeout(1000);
    if ((await five.getByText('of five, batched').count()) !== 0) throw new Error('a batched post was opened without its manifest');
    await liar.close();
    expected.pop();
  });
  await step("a node that lists a message from a block a reorg removed: not verified, its text hidden", async () => {
    const liar = await open('Bob (reorged out)', BOB, 390);
    await liar.route('**/v1/inbox/**', async (route) => {
      const page = await (await route.fetch()).json();
      if (!new URL(route.request().url()).searchParams.has('before')) page.messages.push(JSON.parse(REORGED));
      await route.fulfill({ json: page });
    });
    await connectAndUnlock(liar, 'Bob (reorged out)');
    const inbox = liar.getByRole('region', { name: 'Inbox' });
    await inbox.locator('li.message', { hasText: FROM_CLI }).locator('.badge.verified').waitFor({ timeout: STEP });
    await inbox.locator('li.message.pending, li.message.forged').first().waitFor({ timeout: STEP });
    await liar.waitForTimeout(1000);
    if ((await liar.getByText('in a block reorged out').count()) !== 0) throw new Error('a reorged-out message showed its text');
    await liar.close();
  });
  await step('a slow node: the inbox says Loading…, never a false empty state; the tabs move with the arrow keys; Disconnect signs out and forgets the wallet', async () => {
    const slow = await open('Bob (slow node)', BOB, 390);
    let release;
    const held = new Promise((resolve) => (release = resolve));
    await slow.route('**/v1/inbox/**', async (route) => {
      await held;
      await route.continue();
    });
    await connectAndUnlock(slow, 'Bob (slow node)');
    const inbox = slow.getByRole('region', { name: 'Inbox' });
    await inbox.getByText('Loading…').waitFor({ timeout: STEP });
    if ((await slow.getByText('No messages yet').count()) !== 0) throw new Error('an empty inbox was shown while it loaded');
    release();
    await inbox.locator('li.message', { hasText: FROM_CLI }).locator('.badge.verified').waitFor({ timeout: STEP });
    // The tabs are one tab stop; the arrow keys, Home and End move along them.
    // Each press waits for the focus to be on the selected tab: the page
    // re-renders as checks finish, and a press must not land in between.
    const focusedOn = (id) => slow.waitForFunction((id) => document.activeElement?.id === id, id, { timeout: STEP });
    await slow.getByRole('tab', { name: 'Inbox' }).focus();
    await focusedOn('tab-inbox');
    for (const [key, view] of [['ArrowRight', 'requests'], ['End', 'search'], ['ArrowRight', 'chats'], ['ArrowRight', 'inbox'], ['ArrowLeft', 'chats'], ['ArrowLeft', 'search'], ['Home', 'chats']]) {
      await slow.keyboard.press(key);
      await slow.locator(`#tab-${view}[aria-selected="true"]`).waitFor({ timeout: STEP });
      await focusedOn(`tab-${view}`).catch(() => {
        throw new Error(`${key}: the selected tab ${view} does not have the focus`);
      });
    }
    await slow.locator('#disconnect').click();
    await slow.getByRole('button', { name: "Bob (slow node)'s test wallet" }).waitFor({ timeout: STEP });
    if ((await slow.getByText(FROM_CLI).count()) !== 0) throw new Error('mail is still shown after Disconnect');
    const session = await slow.evaluate(async () => (await fetch('/v1/auth/session')).json());
    if (session.signedIn) throw new Error(`still signed in after Disconnect: ${JSON.stringify(session)}`);
    await slow.close();
  });
  await step('a node that serves an older "allow" of Carol, whom Bob blocked, and lists her: his page keeps the block', async () => {
    const liar = await open('Bob (older consent)', BOB, 390);
    // First an honest load: this browser sees Bob's "block" of Carol.
    await connectAndUnlock(liar, 'Bob (older consent)');
    const inbox = liar.getByRole('region', { name: 'Inbox' });
    await inbox.locator('li.message', { hasText: 'after Carol was blocked' }).locator('.badge.verified').waitFor({ timeout: STEP });
    // Then the node turns: an older, validly signed "allow" in place of the
    // block, and every message to Bob, consent aside, in each folder.
    const older = JSON.parse(OLDER_ALLOW);
    await liar.route('**/v1/consent', async (route) => {
      if (route.request().method() !== 'GET') return route.continue();
      const list = await (await route.fetch()).json();
      list.entries = [...list.entries.filter((e) => e.peer !== older.peer), older];
      lied.consent = true;
      await route.fulfill({ json: list });
    });
    const lied = { consent: false, listed: false };
    await liar.route('**/v1/inbox/**', async (route) => {
      // Asked without Bob's session (from this script, not the browser):
      // signed in, the node would leave out the senders he blocked.
      const url = new URL(route.request().url());
      url.searchParams.delete('view');
      const page = await (await fetch(url)).json();
      lied.listed ||= page.messages.some((m) => m.from === CAROL.toLowerCase());
      await route.fulfill({ json: page });
    });
    await liar.reload();
    await connectAndUnlock(liar, 'Bob (older consent)');
    await inbox.locator('li.message', { hasText: 'after Carol was blocked' }).locator('.badge.verified').waitFor({ timeout: STEP });
    await openTab(liar, 'Requests');
    await liar.waitForTimeout(1000);
    if (!lied.consent || !lied.listed) throw new Error(`the lies were not told: ${JSON.stringify(lied)}`);
    if ((await liar.getByText(/Carol (here|again)/).count()) !== 0) throw new Error("the older allow brought back Carol's messages");
    await liar.close();
  });
  await step("channel lies: a removed member's batch, a non-holder's batch to a gated channel, a replayed and an expired post are refused, their text hidden", async () => {
    const lies = JSON.parse(CHANNEL_LIES);
    const liar = await open('Bob (channel lies)', BOB, 390);
    await liar.route('**/v1/channels/*/messages**', async (route) => {
      const page = await (await route.fetch()).json();
      const url = route.request().url().toLowerCase();
      const lie = lies.find((l) => url.includes(`/v1/channels/${l.channel.toLowerCase()}/messages`));
      if (lie && !url.includes('before=')) page.messages.push(...lie.posts);
      await route.fulfill({ json: page });
    });
    await connectAndUnlock(liar, 'Bob (channel lies)');
    // Unlocking (the device key, the mail, the channel list) is done before
    // a channel opens: the two must not race.
    await liar.locator('.signed-in').waitFor({ timeout: STEP });
    await liar.locator('#disconnect:not([disabled])').waitFor({ timeout: STEP });
    await openTab(liar, 'Channels');
    for (const lie of lies) {
      await liar.getByRole('button', { name: new RegExp(`^${lie.name} \\(`) }).click({ timeout: STEP });
      const region = liar.getByRole('region', { name: `Channel ${lie.name}` });
      const refused = region.locator('li.channel-post.forged', { hasText: 'The chain contradicts the node' });
      await refused.nth(lie.posts.length - 1).waitFor({ timeout: STEP });
      if ((await refused.count()) !== lie.posts.length) throw new Error(`${lie.name}: ${await refused.count()} refused, not ${lie.posts.length}`);
      for (const text of lie.hidden ?? []) {
        if ((await region.getByText(text).count()) !== 0) throw new Error(`${lie.name}: "${text}" was shown`);
      }
      if (lie.once) {
        // The honest anchor's copy, delivered once whichever copy the page checked first.
        await region.locator('li.channel-post', { hasText: lie.once }).locator('.badge.verified').waitFor({ timeout: STEP });
        if ((await region.getByText(lie.once).count()) !== 1) throw new Error(`${lie.name}: "${lie.once}" was delivered more than once`);
      }
    }
    await liar.close();
  });
  await step('Erin, a new wallet with no ETH, is chatting after 2 signatures, sends 55 messages (20 asked for) and reloads with no more prompts; Bob sees her latest at once, and older ones as he scrolls', async () => {
    const erin = await open('Erin', { privateKey: generatePrivateKey() }, 1280);
    const erinWallet = wallets.Erin;
    await erin.getByRole('button', { name: "Erin's test wallet" }).click();
    await erin.locator('#remember-device').check({ timeout: STEP });
    await erin.locator('#unlock').click();
    await openTab(erin, 'Compose');
    await erin.locator('.signed-in').waitFor({ timeout: STEP });
    if (erinWallet.prompts !== 2) throw new Error(`onboarding took ${erinWallet.prompts} prompts, not 2`);
    for (let i = 1; i <= 55; i++) {
      await erin.locator('#to').fill(BOB);
      await erin.locator('#text').fill(`Erin ${i} of 55`);
      await erin.locator('#send').click();
      await erin.locator('.sending').first().locator('.state', { hasText: /accepted|anchored|confirmed/ }).waitFor({ timeout: STEP });
    }
    if (erinWallet.prompts !== 2) throw new Error(`55 messages took ${erinWallet.prompts - 2} more prompts`);
    // Writing to Bob allowed him, signed by the device key: the node holds the entry.
    const allowed = await erin.evaluate(async () => (await fetch('/v1/consent')).json());
    if (!allowed.entries?.some((e) => e.peer.toLowerCase() === BOB_LOWER && e.state === 'allow')) {
      throw new Error(`writing to Bob did not allow him: ${JSON.stringify(allowed)}`);
    }
    // Bob's page proves the posts, signed by Erin's device key for her wallet, from the chain.
    const reader = await open('Bob (reads Erin)', BOB, 390);
    await connectAndUnlock(reader, 'Bob (reads Erin)');
    await openTab(reader, /^Requests/);
    const requests = reader.getByRole('region', { name: 'Requests' });
    await requests.locator('li.message', { hasText: 'Erin 55 of 55' }).locator('.badge.verified').waitFor({ timeout: STEP });
    // The first page is the newest 50: her first messages come when Bob
    // scrolls to the end of the list, with no click.
    if ((await requests.locator('li.message', { hasText: 'Erin 1 of 55' }).count()) !== 0) throw new Error('the first page is not the newest');
    // Scrolled as a reader would, with the wheel (the list re-renders as
    // pages land, so a located element may be replaced under a click).
    const first = requests.locator('li.message', { hasText: 'Erin 1 of 55' });
    for (let i = 0; i < 30 && (await first.count()) === 0; i++) {
      await reader.evaluate(() => window.scrollTo(0, 0));
      await reader.mouse.wheel(0, 100_000);
      await reader.waitForTimeout(500);
    }
    await first.locator('.badge.verified').waitFor({ timeout: STEP });
    await reader.close();
    await erin.reload();
    await erin.getByRole('tab', { name: 'Compose' }).waitFor({ timeout: STEP });
    await erin.locator('.signed-in').waitFor({ timeout: STEP });
    if (erinWallet.prompts !== 2) throw new Error(`the remembered reload took ${erinWallet.prompts - 2} prompts`);
  });
  await step('a forgotten device revokes itself, with no prompt, and a tab that still holds it can no longer post', async () => {
    const [, erin] = pages.find(([who]) => who === 'Erin');
    const stale = await erin.context().newPage();
    pages.push(['Erin (second tab)', stale]);
    stale.on('pageerror', (e) => failures.push(`Erin (second tab): page error: ${e.message}`));
    await stale.goto(CAIRN_URL);
    await openTab(stale, 'Compose');
    await erin.locator('#forget-device').click();
    await erin.getByRole('button', { name: "Erin's test wallet" }).waitFor({ timeout: STEP });
    expected.push(/status of 403/);
    await stale.locator('#to').fill(BOB);
    await stale.locator('#text').fill('from a forgotten device');
    await stale.locator('#send').click();
    // Refused, and the gateway holds no such post: a failure, with the reason, and Retry.
    await stale.locator('li.sending.failed .problem', { hasText: /does not sign for/ }).waitFor({ timeout: STEP });
    if (wallets.Erin.prompts !== 2) throw new Error(`forgetting the device took ${wallets.Erin.prompts - 2} prompts`);
    await stale.close();
  });
  await step('ENS names in and out: a zero-ETH wallet with a name writes to bob.eth, both names show beside the addresses, and a picture from another site waits for consent', async () => {
    // ENS's registry at its canonical address on this Anvil, as on mainnet.
    await deployEns(ANVIL_URL);
    const fayKey = generatePrivateKey();
    const fay = privateKeyToAccount(fayKey).address;
    const dot = 'data:image/svg+xml;base64,' + Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><circle cx="4" cy="4" r="4" fill="#174ea6"/></svg>').toString('base64');
    await nameAccount(ANVIL_URL, 'fay', fay, dot);
    await nameAccount(ANVIL_URL, 'bob', BOB, 'https://avatar.invalid/bob.png');
    const page = await open('Fay', { privateKey: fayKey }, 1280);
    await connectAndUnlock(page, 'Fay');
    // Her own name, and her picture (a data: URI needs no other site), in the header.
    const me = page.locator('header .person');
    await me.locator('.ens', { hasText: 'fay.eth' }).waitFor({ timeout: STEP });
    if (!(await me.textContent()).includes(fay.slice(0, 10))) throw new Error('the name replaced the address');
    if ((await me.locator('img.avatar').getAttribute('src')) !== dot) throw new Error('her data: avatar is not shown');
    await openTab(page, 'Compose');
    await page.locator('#to').fill('nobody.eth');
    await page.locator('#text').fill('hello?');
    await page.locator('#send').click();
    await page.getByRole('alert').getByText('nobody.eth has no address on this chain.').waitFor({ timeout: STEP });
    await page.locator('#to').fill('Bob.eth');
    await page.locator('#text').fill('gm bob.eth, from fay.eth');
    await page.locator('#send').click();
    await page.locator('.sending').first().locator('.state', { hasText: /accepted|anchored|confirmed/ }).waitFor({ timeout: STEP });
    await openTab(page, /^Chats/);
    const row = page.getByRole('button', { name: /^Chat with bob\.eth 0x3C44CdDd/ });
    await row.waitFor({ timeout: STEP });
    // Bob's avatar is on another site: not loaded until Fay says so.
    if ((await row.locator('img.avatar').count()) !== 0) throw new Error("Bob's https avatar was loaded without consent");
    expected.push(/Failed to load resource|ERR_NAME_NOT_RESOLVED/);
    await page.locator('#ens-pictures').check();
    await row.locator('img.avatar[src="https://avatar.invalid/bob.png"]').waitFor({ state: 'attached', timeout: STEP });
    await accessibility(page, 'names');
    await shot(page, 'names-1280');
    // Bob reads it under her name, proven from the chain.
    const reader = await open('Bob (reads Fay)', BOB, 390);
    await connectAndUnlock(reader, 'Bob (reads Fay)');
    await openTab(reader, /^Requests/);
    const message = reader.getByRole('region', { name: 'Requests' }).locator('li.message', { hasText: 'gm bob.eth, from fay.eth' });
    await message.locator('.badge.verified').waitFor({ timeout: STEP });
    await message.locator('.person .ens', { hasText: 'fay.eth' }).waitFor({ timeout: STEP });
    await reader.close();
    await page.close();
  });
  await step("a CLI keystore opens in the page; the page says it is not Alice's registered key", async () => {
    const page = await open('Alice (keystore)', ALICE, 390);
    await page.getByRole('button', { name: "Alice (keystore)'s test wallet" }).click();
    await page.getByText('Use a keystore file instead').click();
    await page.locator('#keystore').setInputFiles({ name: 'key.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(keystore.keystore)) });
    await page.locator('#passphrase').fill('wrong passphrase');
    await page.locator('#import').click();
    await page.getByRole('alert').getByText('Wrong passphrase').waitFor({ timeout: STEP });
    await page.locator('#passphrase').fill(keystore.passphrase);
    await page.locator('#import').click();
    await page.getByText('Your wallet has a different key registered').waitFor({ timeout: STEP });
    await page.close();
  });
  await openTab(alice, 'Sent');
  await alice.getByRole('region', { name: 'Sent' }).locator('li.message', { hasText: text }).waitFor({ timeout: STEP });
  await accessibility(alice, 'sent');
  await alice.setViewportSize({ width: 390, height: 860 });
  await shot(alice, 'sent-390');
  console.log(`sent: ${text}`);
} catch (e) {
  failures.push(`step failed: ${e.message.split('\n')[0]}`);
  for (const [who, page] of pages) {
    failures.push(`${who}'s page at the failure:\n${await page.locator('body').innerText().catch(() => '?')}`);
  }
} finally {
  await browser.close();
}

if (failures.length > 0) {
  for (const f of failures) console.log(`FAIL ${f}`);
  process.exit(1);
}
// Nothing a step left behind (a timer, a socket) may keep the run open.
process.exit(0);
