// The outbox: messages this wallet wrote and the chain has not confirmed
// yet, kept (sealed, see crypto/records.ts) across reloads. A reload then
// shows each with its state, follows those the gateway took to their
// confirmation, sends again the signed posts whose answer never came, and
// offers Retry for those that were refused or never signed.
//
// A signed post's id (its EIP-712 hash) is known before it is sent. So a
// lost answer is not a failure: the page asks the gateway for that id, and
// sends the same signed post again, never a new nonce, until its deadline
// (docs/RELIABILITY.md, "Sends that never fail falsely").

import { type Address, bytesToHex, type Hex, hexToBytes } from 'viem';
import { openRecord, sealRecord } from './crypto/records';
import { NodeError, type PostSubmission } from '@cairn/client';
import type { RecordStore } from './search';

/** A signed post as kept: JSON, so numbers as decimal strings and the envelope as hex. */
export interface KeptPost {
  from: Address;
  to: Hex;
  digest: Hex;
  nonce: string;
  deadline: string;
  signature: Hex;
  envelope: Hex;
}

export function keptPost(p: PostSubmission): KeptPost {
  return { ...p, nonce: String(p.nonce), deadline: String(p.deadline), envelope: bytesToHex(p.envelope) };
}

export function submission(p: KeptPost): PostSubmission {
  return { ...p, nonce: BigInt(p.nonce), deadline: BigInt(p.deadline), envelope: hexToBytes(p.envelope) };
}

/** What delivery needs of the node's gateway. */
export interface Gateway {
  submit(posts: PostSubmission[]): Promise<Hex[]>;
  proof(id: Hex): Promise<{ status: string }>;
}

/** A post that will never be anchored: refused, or past its deadline. */
export class Undeliverable extends Error {}

/** Whether the same request may succeed later: no answer, a timeout, rate limiting or a failing node. */
export function transient(e: unknown): boolean {
  if (!(e instanceof NodeError)) return true;
  return e.status === 0 || e.status === 408 || e.status === 429 || e.status >= 500;
}

/** A minute's grace past the deadline, for clocks that disagree. */
const GRACE_MS = 60_000;

/**
 * Hands `post` (id `id`) to the gateway until it holds it. On any doubt it
 * asks the gateway for the id first; it sends the same signed post again,
 * pausing from 0.25 s up to 5 s, until the post's deadline, telling
 * `waiting` why it waits. Throws {@link Undeliverable} only when the post
 * was refused and the gateway does not hold it, or its deadline passed.
 */
export async function deliver(
  gateway: Gateway,
  post: KeptPost,
  id: Hex,
  waiting: (reason: unknown, pauseMs: number) => void,
  sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms)),
  now = () => Date.now(),
): Promise<void> {
  let pause = 250;
  for (;;) {
    let failure: unknown;
    try {
      await gateway.submit([submission(post)]);
      return;
    } catch (e) {
      failure = e;
    }
    const known = await gateway.proof(id).catch(() => undefined);
    if (known?.status === 'expired') throw new Undeliverable('The post expired before it was anchored.');
    if (known) return;
    if (!transient(failure)) throw new Undeliverable(failure instanceof Error ? failure.message : String(failure));
    if (now() > Number(post.deadline) * 1000 + GRACE_MS) throw new Undeliverable('The post reached no gateway before its deadline.');
    waiting(failure, pause);
    await sleep(pause);
    pause = Math.min(pause * 2, 5_000);
  }
}

/** What is kept of a message on its way. Attachments are not kept: they can be large. */
export interface Kept {
  /** This page's own id for it, before the gateway gives one. */
  local: string;
  to: Address;
  text: string;
  replying?: { digest: Hex; from: Address; text: string };
  digest?: Hex;
  /** The post id (its EIP-712 hash), once signed. */
  id?: Hex;
  /** The signed post, until a gateway holds it: sent again as it was, never re-signed. */
  post?: KeptPost;
  state: 'sealing' | 'signing' | 'sending' | 'accepted' | 'anchored' | 'confirmed' | 'failed';
  detail?: string;
  /** Unix milliseconds it was written. */
  at: number;
}

/** What a reload makes of a kept message: one interrupted before it was signed cannot be followed, only written again; a signed one is sent again as it was. */
export function resumed(kept: Kept): Kept {
  const unsigned = kept.state === 'sealing' || kept.state === 'signing' || (kept.state === 'sending' && !kept.post);
  return unsigned ? { ...kept, state: 'failed', detail: 'Interrupted by a reload before it was signed: nothing was sent.' } : kept;
}

export class Outbox {
  constructor(
    private readonly key: Uint8Array,
    private readonly store: RecordStore,
  ) {}

  /** Every kept message that opens under this key, newest first. */
  async load(): Promise<Kept[]> {
    const kept: Kept[] = [];
    for (const record of await this.store.all()) {
      try {
        kept.push(openRecord<Kept>(this.key, record));
      } catch {
        // Another key's record, or damage: not ours to show.
      }
    }
    return kept.sort((a, b) => b.at - a.at);
  }

  /** Keeps `message` as it is now; a confirmed one is done and forgotten. */
  async save(message: Kept) {
    if (message.state === 'confirmed') return this.forget(message.local);
    await this.store.put(message.local, sealRecord(this.key, message));
  }

  async forget(local: string) {
    await this.store.delete(local);
  }
}
