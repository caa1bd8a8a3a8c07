// Envelope v1: seal and open exactly as docs/ENVELOPE.md says, byte for
// byte with the Rust implementation (src/envelope/). tests/vectors/ proves it.

import { chacha20poly1305, xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { randomBytes } from '@noble/hashes/utils.js';
import { type Body, concat, decodeBody, encodeBody } from './body.js';

export const MAGIC = Uint8Array.of(0x43, 0x52, 0x4e, 0x45); // "CRNE"
export const VERSION = 1;
export const KIND_DIRECT = 1;
export const MAX_BLOCK = 1 << 20;
const HEADER = 122;
const STANZA = 112;
const MAX_READERS = 8;
const WRAP_INFO = new TextEncoder().encode('cairn/v1/wrap');

export class EnvelopeError extends Error {}

export interface Header {
  /** The wallet address that anchors the message, 20 bytes. */
  sender: Uint8Array;
  /** An address left-padded to 32 bytes, or a channel id. */
  recipient: Uint8Array;
  /** Unix seconds. */
  timestamp: bigint;
  /** Digest of the message answered, or 32 zero bytes. */
  replyTo: Uint8Array;
}

/** Randomness, injectable so that the vectors can be reproduced. */
export interface SealRandomness {
  contentKey: Uint8Array;
  nonce: Uint8Array;
  ephemeralSecrets: Uint8Array[];
}

export interface Opened {
  header: Header;
  body: Body;
}

/** The 122 header bytes of an envelope of `kind` (1 direct, 2 channel). */
export function encodeHeader(h: Header, nonce: Uint8Array, kind = KIND_DIRECT): Uint8Array {
  if (h.sender.length !== 20 || h.recipient.length !== 32 || h.replyTo.length !== 32) {
    throw new EnvelopeError('malformed header');
  }
  const out = new Uint8Array(HEADER);
  out.set(MAGIC, 0);
  out[4] = VERSION;
  out[5] = kind;
  out.set(h.sender, 6);
  out.set(h.recipient, 26);
  new DataView(out.buffer).setBigUint64(58, h.timestamp);
  out.set(h.replyTo, 66);
  out.set(nonce, 98);
  return out;
}

/** `HKDF-SHA256(salt = E ‖ R, ikm = X25519, info)`: the key that wraps a key for reader `R`. */
export function wrapKey(ephemeralPublic: Uint8Array, reader: Uint8Array, shared: Uint8Array, info = WRAP_INFO) {
  if (shared.every((b) => b === 0)) throw new EnvelopeError('weak (low-order) key');
  return hkdf(sha256, shared, concat([ephemeralPublic, reader]), info, 32);
}

export const sameBytes = (a: Uint8Array, b: Uint8Array) =>
  a.length === b.length && a.every((x, i) => x === b[i]);

/** Seals `body` for `readers` (the recipient's key first, then the sender's own). */
export function seal(
  header: Header,
  body: Body,
  readers: Uint8Array[],
  randomness?: SealRandomness,
): Uint8Array {
  const unique: Uint8Array[] = [];
  for (const r of readers) if (!unique.some((u) => sameBytes(u, r))) unique.push(r);
  if (unique.length < 1 || unique.length > MAX_READERS) {
    throw new EnvelopeError(`1 to ${MAX_READERS} readers`);
  }
  const contentKey = randomness?.contentKey ?? randomBytes(32);
  const nonce = randomness?.nonce ?? randomBytes(24);
  const head = encodeHeader(header, nonce);
  const stanzas = unique.map((reader, i) => {
    const secret = randomness?.ephemeralSecrets[i] ?? x25519.utils.randomSecretKey();
    const ephemeral = x25519.getPublicKey(secret);
    const w = wrapKey(ephemeral, reader, x25519.getSharedSecret(secret, reader));
    const wrapped = chacha20poly1305(w, new Uint8Array(12), head).encrypt(contentKey);
    return concat([reader, ephemeral, wrapped]);
  });
  const aad = concat([head, Uint8Array.of(unique.length), ...stanzas]);
  const ciphertext = xchacha20poly1305(contentKey, nonce, aad).encrypt(encodeBody(body));
  const envelope = concat([aad, ciphertext]);
  if (envelope.length > MAX_BLOCK) {
    throw new EnvelopeError(`the envelope is ${envelope.length} bytes; a block holds at most ${MAX_BLOCK}`);
  }
  return envelope;
}

/**
 * The size of the envelope `seal` makes of a body of `bodyBytes` for
 * `readers` distinct readers, without sealing: a page can show the limit
 * while the user types.
 */
export function sealedSize(bodyBytes: number, readers: number): number {
  return HEADER + 1 + STANZA * readers + bodyBytes + 16;
}

/** The header, without opening anything. */
export function parseHeader(envelope: Uint8Array): Header {
  checkFrame(envelope);
  return headerFields(envelope);
}

/** The header fields of any kind's first 122 bytes. */
export function headerFields(envelope: Uint8Array): Header {
  const view = new DataView(envelope.buffer, envelope.byteOffset, envelope.byteLength);
  return {
    sender: envelope.slice(6, 26),
    recipient: envelope.slice(26, 58),
    timestamp: view.getBigUint64(58),
    replyTo: envelope.slice(66, 98),
  };
}

function checkFrame(envelope: Uint8Array): number {
  if (envelope.length < HEADER + 1 || !sameBytes(envelope.subarray(0, 4), MAGIC)) {
    throw new EnvelopeError('not a Cairn envelope');
  }
  if (envelope[4] !== VERSION) throw new EnvelopeError(`unsupported version ${envelope[4]}`);
  if (envelope[5] !== KIND_DIRECT) throw new EnvelopeError(`unknown kind ${envelope[5]}`);
  const n = envelope[HEADER];
  if (n < 1 || n > MAX_READERS) throw new EnvelopeError(`bad reader count ${n}`);
  if (envelope.length < HEADER + 1 + STANZA * n + 16) throw new EnvelopeError('truncated envelope');
  return n;
}

/** Opens `envelope` with the first of `secrets` it was sealed for. */
export function open(envelope: Uint8Array, secrets: Uint8Array[]): Opened {
  const n = checkFrame(envelope);
  const head = envelope.subarray(0, HEADER);
  const aadEnd = HEADER + 1 + STANZA * n;
  for (const secret of secrets) {
    const mine = x25519.getPublicKey(secret);
    for (let i = 0; i < n; i++) {
      const at = HEADER + 1 + STANZA * i;
      if (!sameBytes(envelope.subarray(at, at + 32), mine)) continue;
      const ephemeral = envelope.subarray(at + 32, at + 64);
      const w = wrapKey(ephemeral, mine, x25519.getSharedSecret(secret, ephemeral));
      let contentKey: Uint8Array;
      let plaintext: Uint8Array;
      try {
        contentKey = chacha20poly1305(w, new Uint8Array(12), head).decrypt(
          envelope.subarray(at + 64, at + STANZA),
        );
        plaintext = xchacha20poly1305(contentKey, envelope.subarray(98, 122), envelope.subarray(0, aadEnd))
          .decrypt(envelope.subarray(aadEnd));
      } catch {
        throw new EnvelopeError('the envelope does not decrypt: it was altered');
      }
      return { header: parseHeader(envelope), body: decodeBody(plaintext) };
    }
  }
  throw new EnvelopeError('this key is not among the readers');
}

/** sha2-256 of the block: what the chain anchors. */
export const digestOf = (block: Uint8Array): Uint8Array => sha256(block);
