// Channels: messages sealed once under an epoch key (envelope kind 2), and
// the key bundle that wraps each epoch's key for every member. Byte for
// byte as docs/ENVELOPE.md ("Channels") and the Rust implementation
// (src/envelope/channel.rs, src/channel/bundle.rs); tests/vectors/channel-v1.json
// proves it.

import { chacha20poly1305, xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { randomBytes } from '@noble/hashes/utils.js';
import { type Body, concat, decodeBody, encodeBody } from './body.js';
import {
  EnvelopeError,
  encodeHeader,
  type Header,
  headerFields,
  MAGIC,
  MAX_BLOCK,
  sameBytes,
  VERSION,
  wrapKey,
} from './envelope.js';

export const KIND_CHANNEL = 2;
const HEADER = 122;
const AAD = HEADER + 8;
const MESSAGE_INFO = new TextEncoder().encode('cairn/v1/channel-message');
const WRAP_INFO = new TextEncoder().encode('cairn/v1/channel-wrap');
const ROOT_MAGIC = new TextEncoder().encode('CRNB');
const PART_MAGIC = new TextEncoder().encode('CRNW');
const HEAD = 4 + 1 + 32 + 8 + 4;
const WRAP = 20 + 32 + 48;
const ENTRY = 20 + 32;
/** Wraps one part holds, so that it fits one block. */
export const WRAPS_PER_PART = Math.floor((MAX_BLOCK - HEAD) / WRAP);

export interface OpenedChannel {
  header: Header;
  epoch: bigint;
  body: Body;
}

const u64 = (n: bigint) => {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, n);
  return out;
};
const readU64 = (b: Uint8Array, at: number) => new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(at);
const readU32 = (b: Uint8Array, at: number) => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(at);

/** `HKDF-SHA256(salt = channel ‖ epoch, ikm = epoch key, info = "cairn/v1/channel-message")`. */
function bodyKey(epochKey: Uint8Array, channel: Uint8Array, epoch: bigint) {
  return hkdf(sha256, epochKey, concat([channel, u64(epoch)]), MESSAGE_INFO, 32);
}

/** Seals `body` for the channel `header.recipient` under the key of `epoch`. */
export function sealChannel(
  header: Header,
  epoch: bigint,
  epochKey: Uint8Array,
  body: Body,
  nonce: Uint8Array = randomBytes(24),
): Uint8Array {
  const aad = concat([encodeHeader(header, nonce, KIND_CHANNEL), u64(epoch)]);
  const ciphertext = xchacha20poly1305(bodyKey(epochKey, header.recipient, epoch), nonce, aad).encrypt(encodeBody(body));
  const envelope = concat([aad, ciphertext]);
  if (envelope.length > MAX_BLOCK) throw new EnvelopeError(`the envelope is ${envelope.length} bytes; a block holds at most ${MAX_BLOCK}`);
  return envelope;
}

/** The channel and epoch a channel message names (authenticated only by opening it). */
export function peekChannel(envelope: Uint8Array): { header: Header; epoch: bigint } {
  if (envelope.length < AAD + 16 || !sameBytes(envelope.subarray(0, 4), MAGIC)) throw new EnvelopeError('not a Cairn envelope');
  if (envelope[4] !== VERSION) throw new EnvelopeError(`unsupported version ${envelope[4]}`);
  if (envelope[5] !== KIND_CHANNEL) throw new EnvelopeError(`not a channel message (kind ${envelope[5]})`);
  return { header: headerFields(envelope), epoch: readU64(envelope, HEADER) };
}

/** Opens a channel message with the key of the epoch it names. */
export function openChannel(envelope: Uint8Array, epochKey: Uint8Array): OpenedChannel {
  const { header, epoch } = peekChannel(envelope);
  let plaintext: Uint8Array;
  try {
    plaintext = xchacha20poly1305(bodyKey(epochKey, header.recipient, epoch), envelope.subarray(98, 122), envelope.subarray(0, AAD))
      .decrypt(envelope.subarray(AAD));
  } catch {
    throw new EnvelopeError('the channel message does not decrypt: another epoch key, or it was altered');
  }
  return { header, epoch, body: decodeBody(plaintext) };
}

export interface BundleRoot {
  members: number;
  /** Each part's first member (20 bytes) and sha2-256. */
  parts: { first: Uint8Array; digest: Uint8Array }[];
}

function head(magic: Uint8Array, channel: Uint8Array, epoch: bigint, count: number) {
  const out = new Uint8Array(HEAD);
  out.set(magic, 0);
  out[4] = 1;
  out.set(channel, 5);
  out.set(u64(epoch), 37);
  new DataView(out.buffer).setUint32(45, count);
  return out;
}

function checkHead(block: Uint8Array, magic: Uint8Array, channel: Uint8Array, epoch: bigint): number {
  if (block.length < HEAD || !sameBytes(block.subarray(0, 4), magic) || block[4] !== 1) {
    throw new EnvelopeError('not a key bundle block');
  }
  if (!sameBytes(block.subarray(5, 37), channel) || readU64(block, 37) !== epoch) {
    throw new EnvelopeError('the key bundle is for another channel or epoch');
  }
  return readU32(block, 45);
}

const compare = (a: Uint8Array, b: Uint8Array) => {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
};

/** Parses a bundle's root block, which must be `channel`'s at `epoch`. */
export function parseRoot(block: Uint8Array, channel: Uint8Array, epoch: bigint): BundleRoot {
  const members = checkHead(block, ROOT_MAGIC, channel, epoch);
  const count = new DataView(block.buffer, block.byteOffset, block.byteLength).getUint16(HEAD);
  const list = block.subarray(HEAD + 2);
  if (list.length !== count * ENTRY) throw new EnvelopeError('the part list disagrees with its count');
  const parts = [];
  for (let i = 0; i < count; i++) {
    parts.push({ first: list.slice(i * ENTRY, i * ENTRY + 20), digest: list.slice(i * ENTRY + 20, (i + 1) * ENTRY) });
  }
  return { members, parts };
}

/** The digest of the part that would hold `member` (20 bytes). */
export function partFor(root: BundleRoot, member: Uint8Array): Uint8Array | undefined {
  let found: Uint8Array | undefined;
  for (const p of root.parts) {
    if (compare(p.first, member) > 0) break;
    found = p.digest;
  }
  return found;
}

const wrapAad = (channel: Uint8Array, epoch: bigint, member: Uint8Array) => concat([channel, u64(epoch), member]);

/** Unwraps the epoch key for `member` (20 bytes) with its x25519 `secret`. */
export function openPart(block: Uint8Array, channel: Uint8Array, epoch: bigint, member: Uint8Array, secret: Uint8Array): Uint8Array {
  const count = checkHead(block, PART_MAGIC, channel, epoch);
  if (block.length !== HEAD + count * WRAP) throw new EnvelopeError('the part disagrees with its count');
  let [lo, hi] = [0, count];
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const at = HEAD + mid * WRAP;
    const order = compare(block.subarray(at, at + 20), member);
    if (order === 0) {
      const ephemeral = block.subarray(at + 20, at + 52);
      const mine = x25519.getPublicKey(secret);
      const w = wrapKey(ephemeral, mine, x25519.getSharedSecret(secret, ephemeral), WRAP_INFO);
      try {
        return chacha20poly1305(w, new Uint8Array(12), wrapAad(channel, epoch, member)).decrypt(block.subarray(at + 52, at + WRAP));
      } catch {
        throw new EnvelopeError('the epoch key did not unwrap: another messaging key, or an altered bundle');
      }
    }
    if (order < 0) lo = mid + 1;
    else hi = mid;
  }
  throw new EnvelopeError('not a member in this epoch’s key bundle');
}

/** Whether `key` is a low-order point: every agreement with it is zero, so nothing can be wrapped for it. */
export function isWeakKey(key: Uint8Array): boolean {
  try {
    return x25519.getSharedSecret(WEAK_PROBE, key).every((b) => b === 0);
  } catch {
    // noble refuses a zero result outright.
    return true;
  }
}
// Any clamped scalar is a multiple of the cofactor, so any one probes.
const WEAK_PROBE = new Uint8Array(32).fill(1);

/** Whether the part block `part` holds a wrap for `member` (20 bytes). */
export function partHolds(part: Uint8Array, member: Uint8Array): boolean {
  const count = (part.length - HEAD) / WRAP;
  for (let i = 0; i < count; i++) {
    const at = HEAD + i * WRAP;
    if (compare(part.subarray(at, at + 20), member) === 0) return true;
  }
  return false;
}

/**
 * Builds the bundle of `epochKey` for `members` (address and registered
 * key). Members whose key is weak are left out, and listed in `weak`: one
 * such key must not stop the others from getting the epoch's key.
 */
export function buildBundle(
  channel: Uint8Array,
  epoch: bigint,
  epochKey: Uint8Array,
  members: { address: Uint8Array; key: Uint8Array }[],
  perPart = WRAPS_PER_PART,
): { root: Uint8Array; parts: Uint8Array[]; weak: Uint8Array[] } {
  const sorted = [...members].sort((a, b) => compare(a.address, b.address));
  const distinct = sorted.filter((m, i) => i === 0 || compare(sorted[i - 1].address, m.address) !== 0);
  const weak = distinct.filter((m) => isWeakKey(m.key)).map((m) => m.address);
  const unique = distinct.filter((m) => !isWeakKey(m.key));
  const parts: Uint8Array[] = [];
  const entries: Uint8Array[] = [];
  for (let i = 0; i < unique.length; i += perPart) {
    const chunk = unique.slice(i, i + perPart);
    const wraps = chunk.map(({ address, key }) => {
      const secret = x25519.utils.randomSecretKey();
      const ephemeral = x25519.getPublicKey(secret);
      const w = wrapKey(ephemeral, key, x25519.getSharedSecret(secret, key), WRAP_INFO);
      return concat([address, ephemeral, chacha20poly1305(w, new Uint8Array(12), wrapAad(channel, epoch, address)).encrypt(epochKey)]);
    });
    const part = concat([head(PART_MAGIC, channel, epoch, chunk.length), ...wraps]);
    parts.push(part);
    entries.push(concat([chunk[0].address, sha256(part)]));
  }
  const count = new Uint8Array(2);
  new DataView(count.buffer).setUint16(0, parts.length);
  return { root: concat([head(ROOT_MAGIC, channel, epoch, unique.length), count, ...entries]), parts, weak };
}
