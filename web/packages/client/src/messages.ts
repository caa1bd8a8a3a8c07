// One direct message, sealed and signed on this device, and read back only
// as far as the chain proves it. The page, the Node example and any bot use
// these, so none of them can show text under a sender the chain did not
// prove.

import { sha256 } from '@noble/hashes/sha2.js';
import { type Address, bytesToHex, getAddress, type Hex, hashTypedData, hexToBytes, pad, type TypedDataDomain } from 'viem';
import { domain, postTypes } from './abi.js';
import { type Attachment, textBody } from './crypto/body.js';
import { open, seal } from './crypto/envelope.js';
import type { MessagingKey } from './crypto/walletKey.js';
import type { IndexedMessage, PostSubmission } from './node.js';
import { type ChainView, type Verdict, verify } from './verify.js';

/** No message answered: 32 zero bytes. */
const NO_REPLY = new Uint8Array(32);

/** What signs a post: a viem account, a wallet client, or a device key. */
export interface TypedDataSigner {
  signTypedData(typed: {
    domain: TypedDataDomain;
    types: typeof postTypes;
    primaryType: 'Post';
    message: { from: Address; to: Hex; digest: Hex; nonce: bigint; deadline: bigint };
  }): Promise<Hex>;
}

/** A direct message to seal: `to`'s registered key, and the sender's own so that it can read its sent mail. */
export interface Draft {
  from: Address;
  to: Address;
  /** The recipient's x25519 key, as the contract's `keyOf` returns it. */
  recipientKey: Hex | Uint8Array;
  /** The sender's messaging key, so the sender reads its own message too. */
  senderKey: MessagingKey;
  text: string;
  attachments?: Attachment[];
  /** The digest of the message this one answers. */
  replyTo?: Hex;
  /** Unix seconds; now when absent. */
  at?: bigint;
}

/** Seals `draft` on this device: only these bytes leave it. */
export function sealDirect(draft: Draft): { envelope: Uint8Array; digest: Hex } {
  const recipientKey = typeof draft.recipientKey === 'string' ? hexToBytes(draft.recipientKey) : draft.recipientKey;
  const envelope = seal(
    {
      sender: hexToBytes(draft.from),
      recipient: hexToBytes(pad(draft.to)),
      timestamp: draft.at ?? BigInt(Math.floor(Date.now() / 1000)),
      replyTo: draft.replyTo ? hexToBytes(draft.replyTo) : NO_REPLY,
    },
    { ...textBody(draft.text), attachments: draft.attachments ?? [] },
    [recipientKey, draft.senderKey.public],
  );
  return { envelope, digest: bytesToHex(sha256(envelope)) };
}

/** Where a post is anchored: the chain and the Cairn contract (a node's `/v1/config` names both). */
export interface Anchor {
  chainId: number;
  contract: Address;
}

/**
 * Signs a post of `envelope` from `from` to `to` (an address, or a channel
 * id) for the gateway. Its id, the EIP-712 hash, is known before anything
 * is sent, so a lost answer can be asked about by id. The nonce is random
 * unless given: a bot derives it from what it answers, so that a restart
 * signs the same nonce again and never posts twice.
 */
export async function signPost(
  signer: TypedDataSigner,
  anchor: Anchor,
  post: { from: Address; to: Address | Hex; envelope: Uint8Array; nonce?: bigint; deadline?: bigint },
): Promise<{ id: Hex; post: PostSubmission }> {
  const message = {
    from: post.from,
    to: pad(post.to),
    digest: bytesToHex(sha256(post.envelope)),
    nonce: post.nonce ?? BigInt(Math.floor(Math.random() * Number.MAX_SAFE_INTEGER)),
    deadline: post.deadline ?? BigInt(Math.floor(Date.now() / 1000) + 3600),
  };
  const typed = { domain: domain(anchor.chainId, anchor.contract), types: postTypes, primaryType: 'Post', message } as const;
  const signature = await signer.signTypedData(typed);
  return { id: hashTypedData(typed), post: { ...message, signature, envelope: post.envelope } };
}

/** A listed message, as far as the chain proves it. */
export interface Read {
  /** What the chain says of the listing. Text is present only when `verified`. */
  verdict: Verdict;
  /** The proven sender. */
  from: Address;
  text?: string;
  attachments?: Attachment[];
  /** The time the sender put in the envelope. */
  sentAt?: Date;
  replyTo?: Hex;
  /** Why a verified message could not be opened (not for this key, damaged). */
  problem?: string;
}

/**
 * Reads one listed message: checks it against the chain through `chain`
 * (the reader's own RPC, never the node's word), and only then fetches,
 * re-hashes and opens its envelope with `secret`. An envelope that names
 * another sender or recipient than the chain is forged.
 */
export async function readMessage(chain: ChainView, m: IndexedMessage, secret: Uint8Array): Promise<Read> {
  const read: Read = { verdict: { state: 'pending', reason: 'checking' }, from: getAddress(m.from) };
  try {
    read.verdict = await verify(chain, m);
  } catch (e) {
    read.verdict = { state: 'pending', reason: `cannot check the chain now: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (read.verdict.state !== 'verified') return read;
  try {
    const opened = open(await chain.fetchBlock(m.digest), [secret]);
    const sender = getAddress(bytesToHex(opened.header.sender));
    if (sender !== read.from || bytesToHex(opened.header.recipient) !== m.to.toLowerCase()) {
      read.verdict = { state: 'forged', reason: 'the envelope names another sender or recipient than the chain' };
      return read;
    }
    read.text = opened.body.text;
    read.attachments = opened.body.attachments;
    read.sentAt = new Date(Number(opened.header.timestamp) * 1000);
    if (opened.header.replyTo.some((b) => b !== 0)) read.replyTo = bytesToHex(opened.header.replyTo);
  } catch (e) {
    read.problem = e instanceof Error ? e.message : String(e);
  }
  return read;
}
