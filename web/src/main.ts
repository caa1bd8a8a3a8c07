// Renders the app's state. Each change re-renders the main area; the
// compose form keeps what was typed.

import './styles.css';
import type { Address } from 'viem';
import { App, type Box, type ChatLine, type Outgoing, recipientOf, type Replying, type Shown } from './app';
import { preview } from './chats';
import { messageSize, sizeNote } from './limits';
import { supported } from './notify';
import { h, movedTab, person, short, shorten } from './dom';
import { favicon, titled } from './unread';
import { byPosition, type ChannelPost, type LeftOut } from './channels';
import { type ChannelRecord } from '@cairn/client';
import { MAX_LABEL } from './labels';

const root = document.getElementById('app')!;
// What the user typed or chose survives re-renders (a file input cannot be
// refilled, so the chosen files are kept here and named beside it).
let draft: { to: string; text: string; file: File | null; replying?: Replying } = { to: '', text: '', file: null };
let query = '';
const keystoreDraft: { open: boolean; file: File | null; passphrase: string } = { open: false, file: null, passphrase: '' };
const app = new App(render);

function render() {
  app.markRead();
  showUnread(app.key ? app.unread('inbox') + app.unread('requests') + app.channelUnread() : 0);
  const active = document.activeElement as HTMLInputElement | null;
  const [focused, caret] = [active?.id, active?.selectionStart ?? null];
  root.replaceChildren(header(), h('main', { id: 'main' }, notice(), body()));
  // The live region stays put across renders, so screen readers announce changes to it.
  const live = document.getElementById('announce');
  if (live && live.textContent !== app.announcement) live.textContent = app.announcement;
  const again = focused ? (document.getElementById(focused) as HTMLInputElement | null) : null;
  again?.focus();
  if (again && caret !== null && 'setSelectionRange' in again) again.setSelectionRange(caret, caret);
  scrollThread();
}

/** The unread total in the tab's title and on the favicon, changed only when it changes. */
function showUnread(total: number) {
  const title = titled(total);
  if (document.title === title) return;
  document.title = title;
  document.querySelector<HTMLLinkElement>('link[rel="icon"]')?.setAttribute('href', favicon(total));
}

function header() {
  return h(
    'header',
    {},
    h('h1', {}, 'Cairn'),
    app.address
      ? h(
          'p',
          { class: 'who' },
          person(app.address),
          app.key ? h('span', { class: app.live ? 'live on' : 'live' }, app.live ? 'live' : 'reconnecting…') : null,
          app.key && app.session?.address === app.address
            ? h('span', { class: 'signed-in', title: `until ${app.session.until.toLocaleTimeString()}` }, 'signed in')
            : app.key
              ? h('button', { id: 'sign-in', class: 'secondary', onclick: app.signIn, disabled: app.busy }, 'Sign in')
              : null,
          app.device
            ? h(
                'button',
                { id: 'forget-device', class: 'secondary', onclick: app.forgetThisDevice, disabled: app.busy, title: 'Revokes this device key on chain and wipes it here' },
                'Forget this device',
              )
            : null,
          h('button', { id: 'disconnect', class: 'secondary', onclick: app.leave, disabled: app.busy }, 'Disconnect'),
        )
      : null,
  );
}

function notice() {
  return app.notice ? h('p', { role: 'alert', class: 'notice' }, app.notice) : null;
}

function body(): HTMLElement {
  if (!app.info) return app.notice ? h('p', {}, 'Nothing to show.') : h('p', {}, 'Connecting to the Cairn node…');
  if (!app.address) return connect();
  if (app.wrongChain) {
    return h(
      'section',
      { class: 'card' },
      h('h2', {}, 'Wrong network'),
      h('p', {}, `This node's messages live on chain ${app.info.chainId}; your wallet is on chain ${app.chainId}.`),
      h('button', { onclick: app.switchChain, disabled: app.busy }, `Switch to chain ${app.info.chainId}`),
    );
  }
  if (!app.key) {
    return h(
      'section',
      { class: 'card' },
      h('h2', {}, 'Unlock your messages'),
      h(
        'p',
        {},
        'Your wallet signs a fixed message; your encryption key is derived from that signature, here in the browser. ' +
          'It never leaves this page, and any device with your wallet gets the same key back.',
      ),
      app.info.gateway
        ? h(
            'p',
            {},
            'A second signature lets a key made on this device sign your messages, so none of them asks your wallet again. ',
            h(
              'label',
              { class: 'remember' },
              h('input', {
                id: 'remember-device',
                type: 'checkbox',
                checked: app.rememberDevice,
                onchange: (e: Event) => (app.rememberDevice = (e.target as HTMLInputElement).checked),
              }),
              ' Remember this device (keeps the keys in this browser, so the next visit asks nothing)',
            ),
          )
        : null,
      h('button', { id: 'unlock', onclick: app.unlock, disabled: app.busy }, 'Sign to unlock'),
      keystoreForm(),
    );
  }
  if (!app.keyIsRegistered) return registration();
  const view = {
    chats: chatsView,
    compose,
    search: searchView,
    inbox: () => mailbox('inbox'),
    requests: () => mailbox('requests'),
    sent: () => mailbox('sent'),
    channels: channelsView,
  }[app.view];
  return h('div', {}, tabs(), typing(), view());
}

/** Who of the wallets we allowed is writing to us right now. */
function typing() {
  const who = app.typingNow;
  return h('p', { class: 'typing', 'aria-live': 'polite' }, who.length ? `${who.map(short).join(', ')} ${who.length > 1 ? 'are' : 'is'} typing…` : '');
}

/** Or the key of a CLI keystore (`cairn key new`), opened here with its passphrase. */
function keystoreForm() {
  const k = keystoreDraft;
  return h(
    'details',
    { open: k.open, ontoggle: (e: Event) => (k.open = (e.target as HTMLDetailsElement).open) },
    h('summary', {}, 'Use a keystore file instead'),
    h(
      'form',
      {
        class: 'compose',
        onsubmit: (event: Event) => {
          event.preventDefault();
          if (k.file) void app.importKeystore(k.file, k.passphrase);
        },
      },
      h('label', { for: 'keystore' }, 'Keystore (JSON)'),
      h('input', {
        id: 'keystore',
        type: 'file',
        accept: '.json,application/json',
        onchange: (e: Event) => (k.file = (e.target as HTMLInputElement).files?.[0] ?? null),
      }),
      k.file ? h('p', { class: 'chosen' }, `Chosen: ${k.file.name}`) : null,
      h('label', { for: 'passphrase' }, 'Passphrase'),
      h('input', {
        id: 'passphrase',
        type: 'password',
        autocomplete: 'current-password',
        value: k.passphrase,
        oninput: (e: Event) => (k.passphrase = (e.target as HTMLInputElement).value),
      }),
      h('button', { id: 'import', type: 'submit', disabled: app.busy }, 'Open the keystore'),
    ),
  );
}

function connect() {
  if (app.wallets.length === 0) {
    return h(
      'section',
      { class: 'card' },
      h('h2', {}, 'No wallet found'),
      h('p', {}, 'Cairn signs with a browser wallet such as MetaMask, Rabby or Frame. Install one, then reload this page.'),
    );
  }
  return h(
    'section',
    { class: 'card' },
    h('h2', {}, 'Connect a wallet'),
    h(
      'ul',
      { class: 'wallets' },
      ...app.wallets.map((w) =>
        h(
          'li',
          {},
          h(
            'button',
            { onclick: () => app.connect(w), disabled: app.busy },
            w.icon ? h('img', { src: w.icon, alt: '', width: 20, height: 20 }) : null,
            w.name,
          ),
        ),
      ),
    ),
  );
}

function registration() {
  const other = app.registered
    ? h('p', {}, 'Your wallet has a different key registered (from a keystore, or an older one). Registering this one replaces it; messages sealed to the old key stay readable only where that key is.')
    : h('p', {}, 'Publish your public key so that others can write to you.');
  return h(
    'section',
    { class: 'card' },
    h('h2', {}, 'Register your key'),
    other,
    app.info!.gateway
      ? h('button', { id: 'register-gasless', onclick: () => app.register(true), disabled: app.busy }, 'Register without gas (sign only)')
      : null,
    h('button', { id: 'register-direct', class: 'secondary', onclick: () => app.register(false), disabled: app.busy }, 'Register with a transaction'),
  );
}

const views: (typeof app.view)[] = ['chats', 'inbox', 'requests', 'sent', 'compose', 'channels', 'search'];

/** The open view is kept, so a reload lands where the user was. */
const VIEW_KEY = 'cairn-view';
const kept = localStorage.getItem(VIEW_KEY);
if (views.includes(kept as typeof app.view)) app.view = kept as typeof app.view;

/** Opens `view`, as its tab does. */
function show(view: typeof app.view) {
  app.view = view;
  localStorage.setItem(VIEW_KEY, view);
  if (view === 'channels') void app.loadChannels();
  render();
}

/** The tabs, with one tab stop: the arrow keys, Home and End move between them (WAI-ARIA tabs). */
function tabs() {
  const unread = (box: 'inbox' | 'requests', name: string) => {
    const n = app.unread(box);
    return n ? `${name} (${n} unread)` : name;
  };
  const chats = app.conversations().reduce((n, c) => n + c.unread, 0) + app.channelUnread();
  const labels: Record<typeof app.view, string> = {
    chats: chats ? `Chats (${chats} unread)` : 'Chats',
    inbox: unread('inbox', 'Inbox'),
    requests: unread('requests', 'Requests'),
    sent: 'Sent',
    compose: 'Compose',
    channels: 'Channels',
    search: 'Search',
  };
  const tab = (view: typeof app.view) =>
    h(
      'button',
      {
        role: 'tab',
        id: `tab-${view}`,
        'aria-selected': String(app.view === view),
        tabindex: app.view === view ? 0 : -1,
        onclick: () => show(view),
        onkeydown: (event: Event) => {
          const to = movedTab(views.length, views.indexOf(view), (event as KeyboardEvent).key);
          if (to === undefined) return;
          event.preventDefault();
          show(views[to]);
          document.getElementById(`tab-${views[to]}`)?.focus();
        },
      },
      labels[view],
    );
  return h('nav', { role: 'tablist', 'aria-label': 'Mailboxes' }, ...views.map(tab));
}

const boxNames: Record<Box, string> = { inbox: 'Inbox', requests: 'Requests', sent: 'Sent' };
const empty: Record<Box, string> = {
  inbox: 'No messages yet.',
  requests: 'No requests. Messages from wallets you have not allowed yet wait here.',
  sent: 'Nothing sent yet.',
};

function mailbox(box: Box) {
  const state = app.boxes[box];
  const list = [...state.messages].reverse();
  if (box === 'requests' && !app.signedIn) {
    return h(
      'section',
      { 'aria-label': 'Requests', class: 'mailbox' },
      h('p', { class: 'empty' }, 'Sign in to this node to keep messages from wallets you have not allowed apart from your inbox.'),
    );
  }
  return h(
    'section',
    { 'aria-label': boxNames[box], class: 'mailbox' },
    list.length === 0
      ? state.loaded
        ? h('p', { class: 'empty' }, empty[box])
        : h('p', { class: 'empty', role: 'status' }, 'Loading…')
      : null,
    h('ol', { class: 'messages' }, ...list.map((m) => message(m, box))),
    state.more ? olderButton('Older messages', () => app.loadMore(box)) : null,
  );
}

const badges: Record<string, string> = { verified: 'verified on chain', pending: 'not yet on chain', forged: 'FORGED' };

/** Allow or block the sender: a request gets both, an inbox message from someone else a block. */
function consentButtons(m: Shown, box: Box) {
  if (box === 'sent' || m.from === app.address || !app.signedIn) return null;
  const button = (state: 'allow' | 'block', label: string, cls: string) =>
    h(
      'button',
      {
        class: cls,
        onclick: async () => {
          await app.setConsent(m.from, state);
          // The message left this list with its buttons: keep the keyboard's
          // place on the next decision here, or on this list's tab.
          const next = document.querySelector<HTMLElement>('section.mailbox .consent button');
          (next ?? document.getElementById(`tab-${box}`))?.focus();
        },
        disabled: app.busy,
        'aria-label': `${label} ${m.from}`,
      },
      label,
    );
  return h(
    'p',
    { class: 'consent' },
    box === 'requests' ? button('allow', 'Allow', '') : null,
    button('block', 'Block', 'secondary'),
  );
}

/** What a message that the chain has not proven shows instead of its text. */
function unproven(reason: string) {
  return h('p', { class: 'problem' }, `Not proven on chain yet (${reason}): its sender and text stay hidden until it is.`);
}

function message(m: Shown, box: Box) {
  // Only the chain proves a sender: until it has, the node's claim is not shown.
  const proven = m.verdict.state === 'verified';
  const who =
    box === 'sent'
      ? h('span', {}, 'To ', person(recipientOf(m)))
      : proven
        ? h('span', {}, 'From ', person(m.from))
        : h('span', {}, 'Sender not proven');
  const state = m.status === 'retracted' ? 'retracted by a reorg' : m.status;
  return h(
    'li',
    { class: `message ${m.verdict.state}`, 'data-id': m.id },
    h(
      'p',
      { class: 'meta' },
      who,
      proven && box !== 'sent' && app.isOnline(m.from) ? h('span', { class: 'online' }, 'online') : null,
      m.sentAt ? h('time', { datetime: m.sentAt.toISOString() }, m.sentAt.toLocaleString()) : null,
      h('span', { class: `badge ${m.verdict.state}` }, badges[m.verdict.state]),
      h('span', { class: 'status' }, state),
    ),
    m.verdict.state === 'forged'
      ? h('p', { class: 'problem' }, `The chain contradicts the node: ${m.verdict.reason}. Not shown.`)
      : m.verdict.state === 'pending'
        ? unproven(m.verdict.reason)
        : m.text !== undefined
          ? h('div', {}, replied(m), h('p', { class: 'text' }, m.text))
          : h('p', { class: 'problem' }, m.problem ?? 'Not readable here.'),
    ...attachmentLinks(m),
    proven ? consentButtons(m, box) : null,
    proven && m.text !== undefined ? replyButton(m, box) : null,
  );
}

/** Chats: the conversation list, or the open conversation. */
function chatsView() {
  return app.chat ? threadView(app.chat) : conversationList();
}

/** Opens the conversation with `peer`, its composer in focus. */
function openChat(peer: string) {
  app.chat = peer;
  show('chats');
  document.getElementById('chat-text')?.focus();
}

/** The message a search result opened, shown in its thread until the thread closes. */
let focusedLine: string | undefined;

/** A search result's way to its conversation, when the page holds the message as proven. */
function openInChat(id: string) {
  const peer = app.peerOf(id);
  if (!peer) return null;
  return h(
    'button',
    {
      class: 'secondary',
      onclick: () => {
        focusedLine = id;
        shownLines = -1;
        openChat(peer);
      },
    },
    'Open in its chat',
  );
}

/** A search result's way to the channel its post was written to, while the wallet is still in it. */
function openInChannel(id: string) {
  const record = app.channels.list.find((c) => c.id.toLowerCase() === id.toLowerCase());
  if (!record) return null;
  return h(
    'button',
    {
      class: 'secondary',
      onclick: () => {
        show('channels');
        void app.openChannel(record);
      },
    },
    `Open in # ${record.name}`,
  );
}

/** Notifications, turned on by the user here, never asked for on load. */
function notificationSettings() {
  if (!supported()) return null;
  const n = app.notifications;
  const on = n.on && Notification.permission === 'granted';
  return h(
    'div',
    { class: 'notify-settings' },
    ...(on
      ? [
          h(
            'label',
            {},
            h('input', {
              id: 'notify-text',
              type: 'checkbox',
              checked: n.showText,
              onchange: (e: Event) => app.setNotifications({ ...n, showText: (e.target as HTMLInputElement).checked }),
            }),
            ' Show message text in notifications',
          ),
          h('button', { id: 'notify-off', class: 'secondary', onclick: () => app.setNotifications({ ...n, on: false }) }, 'Turn off notifications'),
        ]
      : [h('button', { id: 'notify-on', class: 'secondary', onclick: app.turnOnNotifications, disabled: app.busy }, 'Turn on notifications')]),
  );
}

/**
 * Whether ENS avatars hosted on other sites are loaded: off until the user
 * ticks it, since the site then learns the reader's IP address and when
 * they read. Names and `data:` avatars need no other site.
 */
function pictureSetting() {
  return h(
    'label',
    { class: 'pictures-setting' },
    h('input', {
      id: 'ens-pictures',
      type: 'checkbox',
      checked: app.showPictures,
      onchange: (e: Event) => app.setShowPictures((e.target as HTMLInputElement).checked),
    }),
    ' Show ENS profile pictures from other sites (they see your IP address)',
  );
}

/** A channel row's last post (its proven sender, the time, a preview) and unread count; its member count until a post is proven. */
function channelRowLast(r: ChannelRecord, summary: ReturnType<typeof app.channelSummary>) {
  const last = summary?.last;
  const members = `${r.members.length} member${r.members.length === 1 ? '' : 's'}`;
  return [
    h('span', { class: 'last' }, last ? `${last.from === app.address ? 'You' : short(last.from)}: ${preview(last.text ?? '', 60)}` : members),
    last?.sentAt ? h('time', { datetime: last.sentAt.toISOString() }, last.sentAt.toLocaleString()) : null,
    summary?.unread ? h('span', { class: 'unread' }, String(summary.unread), h('span', { class: 'sr-only' }, ' unread')) : null,
  ];
}

/** The wallet's channels, as rows of Chats (latest activity first): each opens in the Channels view. */
function channelRows() {
  // Each row's summary once per render, not once per comparison of the sort.
  const summaries = new Map(app.channels.list.map((r) => [r.id, app.channelSummary(r.id)]));
  const activity = (r: ChannelRecord) => summaries.get(r.id)?.last?.block ?? -1;
  const channels = [...app.channels.list].sort((a, b) => activity(b) - activity(a));
  if (channels.length === 0) return null;
  return h(
    'ol',
    { class: 'conversations', 'aria-label': 'Your channels' },
    ...channels.map((r) =>
      h(
        'li',
        {},
        h(
          'button',
          {
            class: 'conversation channel',
            onclick: () => {
              show('channels');
              void app.openChannel(r);
            },
          },
          h('span', { class: 'sr-only' }, 'Channel '),
          h('span', { class: 'channel-name' }, `# ${r.name}`),
          ...channelRowLast(r, summaries.get(r.id)),
        ),
      ),
    ),
  );
}

function conversationList() {
  const rows = app.conversations();
  const loaded = app.boxes.inbox.loaded;
  return h(
    'section',
    { 'aria-label': 'Chats', class: 'chats' },
    notificationSettings(),
    pictureSetting(),
    rows.length === 0
      ? loaded
        ? h('p', { class: 'empty' }, 'No conversations yet: write to someone from Compose.')
        : h('p', { class: 'empty', role: 'status' }, 'Loading…')
      : null,
    h(
      'ol',
      { class: 'conversations' },
      ...rows.map((c) =>
        h(
          'li',
          {},
          h(
            'button',
            { class: 'conversation', onclick: () => openChat(c.peer) },
            // The visible text is the button's name (WCAG 2.5.3); screen
            // readers also hear what the layout says by itself.
            h('span', { class: 'sr-only' }, 'Chat with '),
            person(c.peer),
            c.last.sentAt ? h('time', { datetime: c.last.sentAt.toISOString() }, c.last.sentAt.toLocaleString()) : null,
            c.unread ? h('span', { class: 'unread' }, String(c.unread), h('span', { class: 'sr-only' }, ' unread')) : null,
            h('span', { class: 'last' }, `${c.last.mine ? 'You: ' : ''}${preview(c.last.text)}`),
          ),
        ),
      ),
    ),
    channelRows(),
  );
}

/** The draft of each conversation, kept while the user looks elsewhere. */
const chatDrafts = new Map<string, { text: string; replying?: Replying }>();
/** Long messages shown whole, by id. */
const expanded = new Set<string>();
const LONG = 600;
/** How many lines the open thread showed last, to scroll only when one arrives. */
let shownLines = 0;

function threadView(peer: string) {
  const lines = app.thread(peer);
  const travelling = app.outgoing.filter((o) => o.to === peer && o.state !== 'confirmed');
  return h(
    'section',
    { 'aria-label': `Chat with ${short(peer)}`, class: 'thread' },
    h(
      'p',
      { class: 'thread-head' },
      h('button', { id: 'chats-back', class: 'secondary', onclick: () => ((app.chat = focusedLine = undefined), render()) }, '← All chats'),
      person(peer),
    ),
    labelForm(peer),
    app.olderMessages ? olderButton('Older messages', app.loadOlder) : null,
    h('ol', { class: 'lines', 'aria-label': 'Messages' }, ...lines.map((l) => bubble(l, peer)), ...travelling.map(travellingBubble)),
    chatComposer(peer),
  );
}

/** Label drafts by conversation, kept while the page re-renders. */
const labelDrafts = new Map<string, string>();

/** The user's own name for the other party, kept on this device (shown beside the address). */
function labelForm(peer: string) {
  const current = app.labels?.get(peer) ?? '';
  return h(
    'form',
    {
      class: 'label-form',
      onsubmit: (event: Event) => {
        event.preventDefault();
        void app.setLabel(peer, labelDrafts.get(peer) ?? current).then(() => labelDrafts.delete(peer));
      },
    },
    h('label', { for: 'label-input' }, 'Your name for them (this device only)'),
    h('input', {
      id: 'label-input',
      maxlength: String(MAX_LABEL),
      autocomplete: 'off',
      value: labelDrafts.get(peer) ?? current,
      oninput: (e: Event) => labelDrafts.set(peer, (e.target as HTMLInputElement).value),
    }),
    h('button', { id: 'label-save', type: 'submit', class: 'secondary' }, 'Save name'),
  );
}

function bubble(l: ChatLine, peer: string) {
  const long = l.text.length > LONG && !expanded.has(l.id);
  return h(
    'li',
    { class: `line ${l.mine ? 'mine' : 'theirs'}${l.id === focusedLine ? ' focused' : ''}`, 'data-id': l.id },
    replied(l.shown),
    h('p', { class: 'text' }, long ? `${l.text.slice(0, LONG)}…` : l.text),
    long ? h('button', { class: 'secondary', onclick: () => (expanded.add(l.id), render()) }, 'Show more') : null,
    ...attachmentLinks(l.shown),
    h(
      'p',
      { class: 'meta' },
      l.sentAt ? h('time', { datetime: l.sentAt.toISOString() }, l.sentAt.toLocaleTimeString()) : null,
      h('span', { class: 'badge verified' }, 'verified on chain'),
      h(
        'button',
        {
          class: 'secondary reply',
          'aria-label': `Reply to ${l.mine ? 'your message' : 'their message'}: ${preview(l.text, 40)}`,
          onclick: () => {
            chatDrafts.set(peer, { text: chatDrafts.get(peer)?.text ?? '', replying: { digest: l.shown.digest, from: l.shown.from, text: l.text } });
            render();
            document.getElementById('chat-text')?.focus();
          },
        },
        'Reply',
      ),
    ),
  );
}

/** Our message on its way: shown at once, with its state, and Retry if it failed. */
function travellingBubble(o: Outgoing) {
  return h(
    'li',
    { class: `line mine travelling ${o.state}` },
    o.replying ? quote(o.replying.from, o.replying.text, 'In reply to') : null,
    h('p', { class: 'text' }, o.text),
    h(
      'p',
      { class: 'meta' },
      h('strong', { class: 'state' }, o.state === 'failed' ? 'failed' : `${o.state}…`),
      o.state === 'failed' ? h('span', { class: 'problem' }, o.detail ?? '') : null,
      o.state === 'sending' && o.detail ? h('span', { class: 'waiting' }, o.detail) : null,
      o.state === 'failed' ? h('button', { class: 'secondary', onclick: () => void app.retry(o).then(render) }, 'Retry') : null,
      o.state === 'failed' ? h('button', { class: 'secondary', onclick: () => app.discard(o) }, 'Discard') : null,
    ),
  );
}

function chatComposer(peer: string) {
  const draft = chatDrafts.get(peer) ?? { text: '' };
  const send = () => {
    // The draft as typed since this render, not as it was then.
    const now = chatDrafts.get(peer) ?? { text: '' };
    const text = now.text.trim();
    if (!text || app.busy) return;
    void app.send(peer, text, null, now.replying).then(() => {
      if (!app.notice) chatDrafts.delete(peer);
      render();
    });
  };
  const area = h('textarea', {
    id: 'chat-text',
    rows: 2,
    'aria-label': `Message to ${short(peer)} (Enter sends, Shift+Enter starts a new line)`,
    oninput: (e: Event) => {
      const text = (e.target as HTMLTextAreaElement).value;
      chatDrafts.set(peer, { ...(chatDrafts.get(peer) ?? draft), text });
      refreshLimit('chat-limit', 'chat-send', text, null);
      app.typing(peer);
    },
    onkeydown: (e: Event) => {
      const key = e as KeyboardEvent;
      if (key.key !== 'Enter' || key.shiftKey || key.isComposing) return;
      e.preventDefault();
      send();
    },
  }) as HTMLTextAreaElement;
  area.value = draft.text;
  return h(
    'form',
    {
      class: 'chat-compose',
      onsubmit: (e: Event) => {
        e.preventDefault();
        send();
      },
    },
    draft.replying ? replyingTo(draft.replying, () => chatDrafts.set(peer, { text: draft.text })) : null,
    area,
    limitNote('chat-limit', draft.text, null),
    h('button', { id: 'chat-send', type: 'submit', disabled: sendHeld(draft.text, null) }, 'Send'),
  );
}

/** Keeps the newest message of the open thread (a chat or a channel) in view when one arrives. */
function scrollThread() {
  const lines = document.querySelectorAll('.thread ol.lines > li, .channels ol.lines > li');
  if (lines.length !== shownLines && !loadingOlder) {
    const focused = document.querySelector('.thread ol.lines > li.focused');
    (focused ?? lines[lines.length - 1])?.scrollIntoView({ block: focused ? 'center' : 'nearest' });
  }
  shownLines = lines.length;
}

let loadingOlder = false;

/**
 * A button that loads an older page: clicked, or scrolled into view (see
 * the scroll listener below). What the reader was looking at stays where it
 * was on the screen while the older page lands above it.
 */
function olderButton(label: string, load: () => Promise<unknown>) {
  return h('button', { class: 'secondary load-older', onclick: () => void loadOlderKeepingPlace(load), disabled: loadingOlder }, label);
}

async function loadOlderKeepingPlace(load: () => Promise<unknown>) {
  if (loadingOlder) return;
  loadingOlder = true;
  const first = document.querySelector<HTMLElement>('ol.lines > li[data-id]');
  const [id, top] = [first?.dataset.id, first?.getBoundingClientRect().top ?? 0];
  render();
  try {
    await load();
  } finally {
    render();
    const again = id ? document.querySelector<HTMLElement>(`ol.lines > li[data-id="${CSS.escape(id)}"]`) : null;
    if (again) scrollBy(0, again.getBoundingClientRect().top - top);
    shownLines = document.querySelectorAll('.thread ol.lines > li, .channels ol.lines > li').length;
    loadingOlder = false;
    render();
  }
}

// History on scroll: a reader who scrolls an "Older …" button into view
// loads that page, as chat apps do. Only a scroll does it, so a short list
// never pages through a whole mailbox by itself; the button stays for
// keyboards and screen readers.
addEventListener(
  'scroll',
  () => {
    const button = document.querySelector<HTMLButtonElement>('button.load-older');
    if (!button || loadingOlder) return;
    const { top, bottom } = button.getBoundingClientRect();
    if (bottom >= 0 && top <= innerHeight) button.click();
  },
  { passive: true },
);

/** How much of a message's size limit a draft uses, or by how much it passes it (a file counts from when it is picked). */
function limitNote(id: string, text: string, file: File | null) {
  const size = messageSize(text, file);
  return h('p', { id, class: size.over ? 'limit over' : 'limit', 'aria-live': 'polite' }, sizeNote(size));
}

/** Updates the limit line and its Send button as the user types, without re-rendering the form under them. */
function refreshLimit(id: string, button: string, text: string, file: File | null) {
  document.getElementById(id)?.replaceWith(limitNote(id, text, file));
  const send = document.getElementById(button) as HTMLButtonElement | null;
  if (send) send.disabled = sendHeld(text, file);
}

/** Whether Send must wait: the page is busy, the node has no gateway, or the draft passes the size limit. */
function sendHeld(text: string, file: File | null): boolean {
  return app.busy || !app.info?.gateway || messageSize(text, file).over;
}

/** The line above a message that answers another: who wrote what, shortened. */
function quote(from: Address, text: string, label: string) {
  return h('blockquote', { class: 'quote' }, h('span', { class: 'quoted-who' }, `${label} `, person(from), ': '), shorten(text, QUOTE_CHARS));
}

/** The message a draft answers, above the draft, and a way to drop it. */
function replyingTo(replying: Replying, cancel: () => void) {
  return h(
    'div',
    { class: 'replying' },
    quote(replying.from, replying.text, 'Replying to'),
    h('button', { type: 'button', class: 'secondary', onclick: () => (cancel(), render()) }, 'Cancel the reply'),
  );
}

/** A message's attachments, each a link that saves it. */
function attachmentLinks(m: Shown) {
  return m.attachments.map((a) =>
    h('a', { href: URL.createObjectURL(new Blob([a.data as BlobPart])), download: a.name, class: 'attachment' }, `${a.name} (${a.data.length} bytes)`),
  );
}

const QUOTE_CHARS = 140;

/** What a reply shows of the message it answers, if this page holds it. */
function replied(m: Shown) {
  if (!m.replyTo) return null;
  const answered = app.quoted(m.replyTo);
  return answered
    ? quote(answered.from, answered.text!, 'In reply to')
    : h('p', { class: 'quote missing' }, 'In reply to a message this page does not hold.');
}

/** Answers `m` from Compose: to its other party, naming it in the envelope. */
function replyButton(m: Shown, box: Box) {
  const to = box === 'sent' ? recipientOf(m) : m.from;
  return h(
    'button',
    {
      class: 'secondary reply',
      'aria-label': `Reply to ${box === 'sent' ? 'your message to' : 'the message from'} ${to}`,
      onclick: () => {
        draft = { ...draft, to, replying: { digest: m.digest, from: m.from, text: m.text! } };
        show('compose');
        document.getElementById('text')?.focus();
      },
    },
    'Reply',
  );
}

function compose() {
  const form = h(
    'form',
    {
      class: 'card compose',
      onsubmit: (event: Event) => {
        event.preventDefault();
        void app.send(draft.to.trim(), draft.text, draft.file, draft.replying).then(() => {
          if (!app.notice) draft = { to: '', text: '', file: null };
          render();
        });
      },
    },
    draft.replying ? replyingTo(draft.replying, () => (draft.replying = undefined)) : null,
    h('label', { for: 'to' }, 'To (wallet address or ENS name)'),
    h('input', {
      id: 'to',
      name: 'to',
      autocomplete: 'off',
      spellcheck: 'false',
      required: true,
      value: draft.to,
      oninput: (e: Event) => (draft.to = (e.target as HTMLInputElement).value),
    }),
    h('label', { for: 'text' }, 'Message'),
    textarea(),
    limitNote('limit', draft.text, draft.file),
    h('label', { for: 'attachment' }, 'Attachment (optional, up to 1 MiB)'),
    h('input', {
      id: 'attachment',
      type: 'file',
      onchange: (e: Event) => {
        draft.file = (e.target as HTMLInputElement).files?.[0] ?? null;
        render();
      },
    }),
    draft.file
      ? h(
          'p',
          { class: 'chosen' },
          `Attached: ${draft.file.name} (${draft.file.size} bytes) `,
          h('button', { type: 'button', class: 'secondary', onclick: () => ((draft.file = null), render()) }, 'Remove'),
        )
      : null,
    h('button', { id: 'send', type: 'submit', disabled: sendHeld(draft.text, draft.file) }, 'Encrypt and send'),
    app.info?.gateway ? null : h('p', {}, 'This node runs no gateway: send with the CLI (cairn send).'),
  );
  return h('div', {}, form, h('ol', { class: 'outgoing', 'aria-label': 'Sending' }, ...app.outgoing.map(outgoing)));
}

let channelDraft = '';
/** The new-channel form's draft, and whether it is unfolded: a re-render must not fold it under the user. */
const newChannel = { name: '', members: '', open: false };
let memberDraft = '';
const addresses = (text: string) => text.split(/[\s,]+/).filter(Boolean);

/** A new channel: a name and its members; the wallet pays for it and signs its first key's uploads. */
function createChannelForm() {
  return h(
    'details',
    { open: newChannel.open, ontoggle: (e: Event) => (newChannel.open = (e.target as HTMLDetailsElement).open) },
    h('summary', {}, 'New channel'),
    h(
      'form',
      {
        class: 'compose',
        onsubmit: (event: Event) => {
          event.preventDefault();
          void app.createChannel(newChannel.name.trim(), addresses(newChannel.members)).then(() => {
            if (!app.notice) Object.assign(newChannel, { name: '', members: '', open: false });
            render();
          });
        },
      },
      h('label', { for: 'channel-name' }, 'Name'),
      h('input', { id: 'channel-name', required: true, maxlength: 64, value: newChannel.name, oninput: (e: Event) => (newChannel.name = (e.target as HTMLInputElement).value) }),
      h('label', { for: 'channel-members' }, 'Members (wallet addresses; you are one too)'),
      (() => {
        const area = h('textarea', { id: 'channel-members', rows: 2, oninput: (e: Event) => (newChannel.members = (e.target as HTMLTextAreaElement).value) }) as HTMLTextAreaElement;
        area.value = newChannel.members;
        return area;
      })(),
      h('button', { id: 'channel-create', type: 'submit', disabled: app.busy }, 'Create the channel'),
    ),
  );
}

/** Who the current key bundle leaves out, and the action that fixes it once they have a key. */
function leftOutNotice(leftOut: LeftOut | undefined) {
  if (!leftOut || leftOut.unwrapped.length + leftOut.weak.length === 0) return null;
  const line = (who: string[], why: string) =>
    who.length === 0 ? null : h('p', {}, `${who.length} cannot read this epoch: ${why}: `, ...who.flatMap((m, i) => [i ? ', ' : '', person(m)]));
  return h(
    'div',
    { class: 'notice', role: 'status', 'aria-label': 'Members left out of the key' },
    line(leftOut.unwrapped, 'no messaging key when it was published (they may have registered since)'),
    line(leftOut.weak, 'a weak messaging key, which nothing can be sealed for; they must register a new one'),
    h('button', { id: 'rotate-key', onclick: () => app.rotateChannelKey(), disabled: app.busy }, 'Rotate the key now'),
  );
}

/** An admin's view of the members: remove one, or add one; either rotates the key. */
function membersForm(record: { members: string[] }, leftOut?: LeftOut) {
  return h(
    'section',
    { 'aria-label': 'Members', class: 'card' },
    h('h3', {}, 'Members (you are an admin)'),
    leftOutNotice(leftOut),
    h(
      'ul',
      { class: 'members' },
      ...record.members.map((m) =>
        h(
          'li',
          {},
          person(m),
          ' ',
          h('button', { class: 'secondary', 'aria-label': `Remove ${m}`, onclick: () => app.changeChannelMembers([], [m]), disabled: app.busy }, 'Remove'),
        ),
      ),
    ),
    h(
      'form',
      {
        class: 'compose',
        onsubmit: (event: Event) => {
          event.preventDefault();
          void app.changeChannelMembers(addresses(memberDraft), []).then(() => {
            if (!app.notice) memberDraft = '';
            render();
          });
        },
      },
      h('label', { for: 'member-add' }, 'Add a member (the key rotates)'),
      h('input', { id: 'member-add', value: memberDraft, oninput: (e: Event) => (memberDraft = (e.target as HTMLInputElement).value) }),
      h('button', { id: 'member-add-button', type: 'submit', disabled: app.busy }, 'Add'),
    ),
  );
}

/** One channel post: a bubble under its proven sender, with the time they give; what the chain refutes says so, and nothing else. */
function channelPost(p: ChannelPost) {
  const mine = p.verdict === 'verified' && p.from === app.address;
  return h(
    'li',
    { class: `message channel-post line ${mine ? 'mine' : 'theirs'} ${p.verdict}`, 'data-id': p.id },
    h(
      'p',
      { class: 'meta' },
      p.verdict === 'verified' ? h('span', {}, mine ? 'You' : person(p.from)) : h('span', {}, 'Sender not proven'),
      p.sentAt ? h('time', { datetime: p.sentAt.toISOString() }, p.sentAt.toLocaleString()) : null,
      h('span', { class: `badge ${p.verdict}` }, badges[p.verdict]),
    ),
    p.verdict === 'forged'
      ? h('p', { class: 'problem' }, 'The chain contradicts the node. Not shown.')
      : p.verdict === 'pending'
        ? unproven(p.problem ?? 'checking')
        : p.text !== undefined
          ? h('p', { class: 'text' }, p.text)
          : h('p', { class: 'problem' }, p.problem ?? 'Not readable here.'),
  );
}

/** Who is in the channel, with their names, for a member who is not an admin (an admin sees them in the members form). */
function memberList(record: ChannelRecord) {
  return h(
    'details',
    { class: 'member-list' },
    h('summary', {}, `Members (${record.members.length})`),
    h('ul', { class: 'members' }, ...record.members.map((m) => h('li', {}, person(m)))),
  );
}

/** The wallet's channels; the open one's posts, live, and a box to post to it. */
function channelsView() {
  const c = app.channels;
  const list = h(
    'ul',
    { class: 'wallets', 'aria-label': 'Your channels' },
    ...c.list.map((r) =>
      h(
        'li',
        {},
        h(
          'button',
          { class: c.open?.record.id === r.id ? '' : 'secondary', onclick: () => app.openChannel(r), disabled: app.busy },
          `${r.name} (${r.members.length} member${r.members.length === 1 ? '' : 's'})`,
        ),
      ),
    ),
  );
  const open = c.open;
  const body = open
    ? h(
        'section',
        { 'aria-label': `Channel ${open.record.name}`, class: 'mailbox' },
        h('h2', {}, open.record.name),
        h('p', { class: 'meta' }, `key epoch ${open.epoch}; ${open.record.members.length} member${open.record.members.length === 1 ? '' : 's'}; every post is checked on chain and decrypted here`),
        open.record.admins.some((a) => a.toLowerCase() === app.address?.toLowerCase()) ? membersForm(open.record, open.leftOut) : memberList(open.record),
        open.posts.length === 0 ? h('p', { class: 'empty' }, 'No posts yet.') : null,
        open.older ? olderButton('Older posts', () => app.channels.loadOlder()) : null,
        h('ol', { class: 'lines', 'aria-label': 'Posts' }, ...[...open.posts].sort(byPosition).map(channelPost)),
        open.sending ? h('p', { class: 'waiting', role: 'status' }, open.sending) : null,
        open.blocked
          ? h('p', { class: 'notice', role: 'status' }, open.blocked)
          : h(
              'form',
              {
                class: 'card compose',
                onsubmit: (event: Event) => {
                  event.preventDefault();
                  void app.postToChannel(channelDraft).then(() => {
                    if (!app.notice) channelDraft = '';
                    render();
                  });
                },
              },
              h('label', { for: 'channel-text' }, `Post to ${open.record.name} (sealed for its members)`),
              (() => {
                const area = h('textarea', {
                  id: 'channel-text',
                  rows: 3,
                  required: true,
                  'aria-describedby': 'channel-keys',
                  oninput: (e: Event) => (channelDraft = (e.target as HTMLTextAreaElement).value),
                  onkeydown: (e: Event) => {
                    const key = e as KeyboardEvent;
                    if (key.key !== 'Enter' || key.shiftKey || key.isComposing) return;
                    e.preventDefault();
                    (key.target as HTMLTextAreaElement).form?.requestSubmit();
                  },
                }) as HTMLTextAreaElement;
                area.value = channelDraft;
                return area;
              })(),
              h('p', { id: 'channel-keys', class: 'hint' }, 'Enter posts; Shift+Enter starts a new line.'),
              h('button', { id: 'channel-post', type: 'submit', disabled: app.busy || !app.info?.gateway }, 'Encrypt and post'),
            ),
      )
    : null;
  return h(
    'section',
    { 'aria-label': 'Channels', class: 'channels' },
    createChannelForm(),
    c.list.length === 0 ? h('p', { class: 'empty' }, 'You are in no channel yet.') : list,
    body,
  );
}

function searchView() {
  const results = app.results;
  return h(
    'section',
    { 'aria-label': 'Search', class: 'search' },
    h(
      'form',
      {
        role: 'search',
        class: 'card',
        onsubmit: (event: Event) => {
          event.preventDefault();
          app.search(query);
          render();
        },
      },
      h('label', { for: 'query' }, `Search your ${app.history?.index.size ?? 0} decrypted messages and channel posts (here, in this browser)`),
      h('input', {
        id: 'query',
        type: 'search',
        value: query,
        oninput: (e: Event) => {
          query = (e.target as HTMLInputElement).value;
          app.search(query);
          render();
        },
      }),
    ),
    query.trim()
      ? h('p', { class: 'empty', 'aria-live': 'polite' }, `${results.length} found in ${(app.searchMs ?? 0).toFixed(1)} ms`)
      : null,
    h(
      'ol',
      { class: 'messages' },
      ...results.map((r) =>
        h(
          'li',
          { class: 'message result' },
          h('p', { class: 'meta' }, person(r.from), h('time', { datetime: new Date(r.at).toISOString() }, new Date(r.at).toLocaleString())),
          h('p', { class: 'text' }, r.text),
          r.channel ? openInChannel(r.channel) : openInChat(r.id),
        ),
      ),
    ),
  );
}

function textarea() {
  const area = h('textarea', {
    id: 'text',
    name: 'text',
    rows: 4,
    required: true,
    oninput: (e: Event) => {
      draft.text = (e.target as HTMLTextAreaElement).value;
      refreshLimit('limit', 'send', draft.text, draft.file);
      app.typing(draft.to.trim());
    },
  }) as HTMLTextAreaElement;
  area.value = draft.text;
  return area;
}

const steps: Outgoing['state'][] = ['sealing', 'signing', 'sending', 'accepted', 'anchored', 'confirmed'];

function outgoing(o: Outgoing) {
  return h(
    'li',
    { class: `sending ${o.state}` },
    h('p', {}, `To ${short(o.to)}: `, h('strong', { class: 'state' }, o.state)),
    o.state === 'failed'
      ? h('p', { class: 'problem' }, o.detail ?? 'failed')
      : h('p', { class: 'steps' }, steps.map((s) => (steps.indexOf(s) <= steps.indexOf(o.state) ? `✓ ${s}` : s)).join(' → ')),
    o.state === 'sending' && o.detail ? h('p', { class: 'waiting' }, o.detail) : null,
    o.id && (o.state === 'anchored' || o.state === 'confirmed')
      ? h('button', { class: 'secondary', onclick: () => app.checkInclusion(o) }, 'Check its inclusion proof')
      : null,
    o.inclusion ? h('p', { class: `badge ${o.inclusion.state}` }, o.inclusion.state === 'verified' ? 'inclusion verified on chain' : `inclusion: ${o.inclusion.state}`) : null,
  );
}

render();
void app.start().then(render);
// A clicked notification (the worker brings the page forward) opens its conversation.
navigator.serviceWorker?.addEventListener('message', (event: MessageEvent) => {
  if (event.data?.type === 'open-chat' && typeof event.data.peer === 'string' && app.key) openChat(event.data.peer);
});
// A session ends after an hour; say so when it does, and after a laptop wakes.
setInterval(() => app.session && void app.checkSession(), 60_000);
document.addEventListener('visibilitychange', () => {
  // Only on coming back in sight (the open mailbox is read now): a page
  // going away is not re-rendered while it closes.
  if (document.visibilityState !== 'visible') return;
  render();
  if (app.session) void app.checkSession();
});
