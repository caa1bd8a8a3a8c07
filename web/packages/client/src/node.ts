// The Cairn node's HTTP APIs: the read API, blocks, the batching gateway,
// and the live stream with resume. Nothing here is trusted: messages are
// checked against the chain (verify.ts) and blocks re-hashed.

import { type Address, type Hex, hexToBytes } from 'viem';
import { cidForDigest } from './crypto/cid.js';
import { checkBlock } from './verify.js';

export interface NodeInfo {
  contract: Address;
  chainId: number | null;
  confirmations: number;
  gateway: boolean;
}

/** A message as the read API lists it. */
export interface IndexedMessage {
  id: string;
  from: Address;
  to: Hex;
  cid: string;
  digest: Hex;
  block: number;
  blockHash: Hex;
  tx: Hex;
  logIndex: number;
  sequence: number;
  item: number | null;
  status: 'pending' | 'confirmed' | 'retracted';
  cursor: string;
}

export interface Page {
  messages: IndexedMessage[];
  next: string | null;
  more: boolean;
}

export interface StreamEvent {
  type: 'message' | 'retracted';
  cursor: string;
  message: IndexedMessage;
}

/** Presence from another wallet: ephemeral, relayed only if we allowed it. */
export interface PresenceFrame {
  type: 'presence';
  from: Address;
  state: PresenceState;
  /** Unix milliseconds, by the node's clock. */
  at: number;
}

export type PresenceState = 'online' | 'typing' | 'idle';

export type ConsentState = 'allow' | 'block';

/** A consent entry as signed by its owner (EIP-712 `Consent`). */
export interface ConsentEntry {
  owner: Address;
  peer: Address;
  state: ConsentState;
  issuedAt: number;
  signature: Hex;
}

/** A channel as the node indexes it (the page checks what matters on chain). */
export interface ChannelRecord {
  id: Hex;
  name: string;
  policy: 'members' | 'erc20' | 'erc721';
  epoch: number;
  members: Address[];
  admins: Address[];
}

/** A live stream: stop it, or send presence on it. */
export interface Stream {
  stop(): void;
  /** Sends presence to `to`; false when the stream is not connected. */
  presence(to: Address, state: PresenceState): boolean;
}

/** The close code of a signed-in stream whose session ended (the node's `SESSION_ENDED`). */
export const SESSION_ENDED = 4401;

/** An error the node answered with: its stable code and message. */
export class NodeError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class Node {
  /**
   * Called when the node says this browser's session is gone: a request
   * answered 401 `no_session`, or a signed-in stream closed with 4401. The page can then
   * say "signed out" at once, rather than at its next session check.
   */
  onSessionLost: () => void = () => {};

  constructor(readonly base = '') {}

  private async json<T>(path: string, init?: RequestInit): Promise<T> {
    let response: Response;
    try {
      response = await fetch(this.base + path, init);
    } catch {
      throw new NodeError(0, 'unreachable', 'the Cairn node does not answer');
    }
    const body = await response.json().catch(() => ({}));
    if (response.status === 401 && body.code === 'no_session') this.onSessionLost();
    if (!response.ok) {
      throw new NodeError(response.status, body.code ?? 'error', body.message ?? response.statusText);
    }
    return body as T;
  }

  config = () => this.json<NodeInfo>('/v1/config');

  /**
   * A page of a mailbox, newest first: the latest messages, or those
   * `before` a previous page's `next` (a chat loads history upward).
   * `view` narrows an inbox by the signed-in owner's consent.
   */
  page(box: 'inbox' | 'sent', address: Address, before?: string, limit = 50, view?: 'inbox' | 'requests' | 'all'): Promise<Page> {
    const query = newestFirst(before, limit);
    if (view) query.set('view', view);
    return this.json<Page>(`/v1/${box}/${address}?${query}`);
  }

  /** The channels `member` belongs to, as the node indexes them. */
  channels = (member: Address) => this.json<ChannelRecord[]>(`/v1/channels?member=${member}`);

  /** A page of a channel's messages, newest first, as `page`. */
  channelPage(channel: Hex, before?: string, limit = 50): Promise<Page> {
    return this.json<Page>(`/v1/channels/${channel}/messages?${newestFirst(before, limit)}`);
  }

  /** Stores a raw block, signed by its uploader (EIP-712 `Upload`); returns its CID. */
  upload(block: Uint8Array, from: Address, deadline: bigint, signature: Hex) {
    return this.json<{ cid: string }>('/v1/blobs', {
      method: 'POST',
      headers: {
        'content-type': 'application/octet-stream',
        'x-cairn-from': from,
        'x-cairn-deadline': String(deadline),
        'x-cairn-signature': signature,
      },
      body: block as BodyInit,
    });
  }

  /** Publishes a signed consent entry. */
  putConsent(entry: ConsentEntry) {
    return this.json<unknown>('/v1/consent', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(entry),
    });
  }

  /** The signed-in wallet's consent entries, as signed. */
  consent = () => this.json<{ owner: Address; entries: ConsentEntry[] }>('/v1/consent');

  /** The block with this digest, re-hashed. */
  async block(digest: Hex): Promise<Uint8Array> {
    const response = await fetch(`${this.base}/ipfs/${cidForDigest(hexToBytes(digest))}`);
    if (!response.ok) throw new NodeError(response.status, 'block_unavailable', 'the block is not available');
    return checkBlock(new Uint8Array(await response.arrayBuffer()), digest);
  }

  /** Hands signed posts, envelopes inline, to the gateway; returns their ids. */
  async submit(posts: PostSubmission[]): Promise<Hex[]> {
    const body = posts.map((p) => ({
      from: p.from,
      to: p.to,
      digest: p.digest,
      nonce: Number(p.nonce),
      deadline: Number(p.deadline),
      signature: p.signature,
      envelope: base64(p.envelope),
    }));
    const answer = await this.json<{ ids: Hex[] }>('/v1/posts', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body.length === 1 ? body[0] : { posts: body }),
    });
    return answer.ids;
  }

  nonce = () => this.json<{ nonce: string }>('/v1/auth/nonce');

  /** Posts a signed SIWE message; the node answers with an HttpOnly session cookie. */
  signIn(message: string, signature: Hex) {
    return this.json<{ address: Address; signer: 'account' | 'device' | 'contract' | 'counterfactual'; expiresInSecs: number }>('/v1/auth/siwe', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message, signature }),
    });
  }

  session = () => this.json<{ signedIn: boolean; address: Address | null; expiresInSecs: number }>('/v1/auth/session');

  /** Ends this browser's session on the node (on every node of its database), and clears the cookie. */
  logout = () => this.json<unknown>('/v1/auth/logout', { method: 'POST' });

  proof = (id: Hex) => this.json<{ status: string; tx?: Hex; block?: number }>(`/v1/proofs/${id}`);

  /** Has the gateway's registrar send a wallet's signed authorization of a device key. */
  authorizeSigner(body: { owner: Address; signer: Address; expiry: bigint; messagingKey: Hex; deadline: bigint; signature: Hex }) {
    return this.json<{ tx: Hex; block: number }>('/v1/signers', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        owner: body.owner,
        signer: body.signer,
        expiry: Number(body.expiry),
        messagingKey: body.messagingKey,
        deadline: Number(body.deadline),
        signature: body.signature,
      }),
    });
  }

  /** Has the gateway's registrar send a revocation, signed by the wallet or by the device key itself. */
  revokeSigner(body: { owner: Address; signer: Address; deadline: bigint; signature: Hex }) {
    return this.json<{ tx: Hex; block: number }>('/v1/signers/revoke', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ owner: body.owner, signer: body.signer, deadline: Number(body.deadline), signature: body.signature }),
    });
  }

  /** Has the gateway's registrar send a channel change an admin (or its device key) signed. */
  channelAdmin(body: Record<string, unknown>) {
    return this.json<{ channel: Hex; tx: Hex; block: number }>('/v1/channels/admin', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body, (_, v) => (typeof v === 'bigint' ? Number(v) : v)),
    });
  }

  register(owner: Address, pubkey: Hex, deadline: bigint, signature: Hex) {
    return this.json<unknown>('/v1/registrations', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ owner, pubkey, deadline: Number(deadline), signature }),
    });
  }

  /**
   * Streams `address`'s confirmed events from after `cursor`, reconnecting
   * with the last cursor after drops, after the network returns and when the
   * page becomes visible again (a laptop waking up). Presence frames go to
   * `onPresence`; they carry no cursor, and nothing replays them.
   */
  stream(
    address: Address | { channel: Hex },
    cursor: string | null,
    onEvent: (e: StreamEvent) => void,
    onState: (live: boolean) => void,
    onPresence: (p: PresenceFrame) => void = () => {},
  ): Stream {
    let socket: WebSocket | null = null;
    let stopped = false;
    let retry = 500;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const url = () => {
      const origin = (this.base || globalThis.location.origin).replace(/^http/, 'ws');
      const what = typeof address === 'string' ? `address=${address}` : `channel=${address.channel}`;
      return `${origin}/v1/stream?${what}${cursor ? `&after=${cursor}` : ''}`;
    };
    const connect = () => {
      if (stopped || (socket && socket.readyState <= WebSocket.OPEN)) return;
      socket = new WebSocket(url());
      socket.onopen = () => {
        retry = 500;
        onState(true);
      };
      socket.onmessage = (frame) => {
        const event = JSON.parse(frame.data);
        // A heartbeat says where the stream stands: resuming from there (and
        // not from a later "now") misses nothing even before the first event.
        if (event.type === 'heartbeat') {
          cursor ??= event.cursor;
          return;
        }
        if (event.type === 'presence') return onPresence(event as PresenceFrame);
        // The node refusing a presence frame (not signed in, too many): nothing to show.
        if (event.type === 'error') return;
        cursor = event.cursor;
        onEvent(event as StreamEvent);
      };
      socket.onclose = (close) => {
        socket = null;
        if (close.code === SESSION_ENDED) this.onSessionLost();
        onState(false);
        if (stopped) return;
        timer = setTimeout(connect, retry);
        retry = Math.min(retry * 2, 15_000);
      };
    };
    const wake = () => {
      if (document.visibilityState === 'visible') connect();
    };
    // In a page, reconnect at once when the network or the tab comes back;
    // elsewhere (Node, a worker) the retry timer alone does.
    const inPage = typeof document !== 'undefined';
    if (inPage) {
      addEventListener('online', connect);
      document.addEventListener('visibilitychange', wake);
    }
    connect();
    return {
      stop: () => {
        stopped = true;
        clearTimeout(timer);
        if (inPage) {
          removeEventListener('online', connect);
          document.removeEventListener('visibilitychange', wake);
        }
        socket?.close();
      },
      presence: (to, state) => {
        if (socket?.readyState !== WebSocket.OPEN) return false;
        socket.send(JSON.stringify({ type: 'presence', to, state }));
        return true;
      },
    };
  }
}

export interface PostSubmission {
  from: Address;
  to: Hex;
  digest: Hex;
  nonce: bigint;
  deadline: bigint;
  signature: Hex;
  envelope: Uint8Array;
}

function base64(bytes: Uint8Array): string {
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

/** The query of a newest-first page: from the newest, or `before` a cursor. */
function newestFirst(before: string | undefined, limit: number): URLSearchParams {
  const query = new URLSearchParams({ order: 'newest', limit: String(limit) });
  if (before) query.set('before', before);
  return query;
}
