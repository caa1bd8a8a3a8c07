// Channels against tests/vectors/channel-v1.json, made by the Rust
// implementation: every member unwraps the epoch key from the part the
// root names, the message opens and reseals to the same bytes, and a
// bundle built here opens here for every member and no one else.

import { readFileSync } from 'node:fs';
import { x25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, type Hex, hexToBytes } from 'viem';
import { describe, expect, it } from 'vitest';
import {
  buildBundle,
  isWeakKey,
  openChannel,
  openPart,
  parseRoot,
  partFor,
  partHolds,
  sealChannel,
  textBody,
} from '@cairn/client';
import { postBlock } from '../src/channels';

const v = JSON.parse(readFileSync(new URL('../../tests/vectors/channel-v1.json', import.meta.url), 'utf8'));
const channel = hexToBytes(v.channel as Hex);
const epoch = BigInt(v.epoch);

describe('channel vectors', () => {
  it('every member unwraps the epoch key and opens the message', () => {
    const root = parseRoot(hexToBytes(v.bundle.root), channel, epoch);
    expect(bytesToHex(sha256(hexToBytes(v.bundle.root)))).toBe(v.bundle.rootDigest);
    const parts = (v.bundle.parts as Hex[]).map((p) => hexToBytes(p));
    for (const m of v.members as { address: Hex; secret: Hex }[]) {
      const address = hexToBytes(m.address);
      const digest = bytesToHex(partFor(root, address)!);
      const part = parts.find((p) => bytesToHex(sha256(p)) === digest)!;
      const key = openPart(part, channel, epoch, address, hexToBytes(m.secret));
      expect(bytesToHex(key)).toBe(v.epochKey);
      expect(openChannel(hexToBytes(v.message.envelope), key).body.text).toBe(v.message.text);
    }
    expect(() => openPart(parts[0], channel, epoch + 1n, hexToBytes(v.members[0].address), hexToBytes(v.members[0].secret))).toThrow(
      /another channel or epoch/,
    );
  });

  it('seals the message to the same bytes as Rust', () => {
    const header = {
      sender: hexToBytes(v.message.sender),
      recipient: channel,
      timestamp: BigInt(v.message.timestamp),
      replyTo: new Uint8Array(32),
    };
    const sealed = sealChannel(header, epoch, hexToBytes(v.epochKey), textBody(v.message.text), hexToBytes(v.message.nonce));
    expect(bytesToHex(sealed)).toBe(v.message.envelope);
    const moved = sealed.slice();
    moved[122 + 7] ^= 1;
    expect(() => openChannel(moved, hexToBytes(v.epochKey))).toThrow();
  });

  it('a bundle built here opens for each member and for no one else', () => {
    const key = new Uint8Array(32).fill(5);
    const people = Array.from({ length: 7 }, (_, i) => {
      const secret = new Uint8Array(32).fill(i + 1);
      return { address: new Uint8Array(20).fill(0x30 + i), secret, key: x25519.getPublicKey(secret) };
    });
    const built = buildBundle(channel, 9n, key, people, 3);
    expect(built.parts.length).toBe(3);
    const root = parseRoot(built.root, channel, 9n);
    for (const p of people) {
      const digest = bytesToHex(partFor(root, p.address)!);
      const part = built.parts.find((b) => bytesToHex(sha256(b)) === digest)!;
      expect(bytesToHex(openPart(part, channel, 9n, p.address, p.secret))).toBe(bytesToHex(key));
    }
    const stranger = new Uint8Array(20).fill(0x3f);
    const last = built.parts[built.parts.length - 1];
    expect(() => openPart(last, channel, 9n, stranger, new Uint8Array(32).fill(9))).toThrow(/not a member/);
  });

  it('a weak key is left out and named, and the others still get the key', () => {
    const key = new Uint8Array(32).fill(6);
    const people = Array.from({ length: 3 }, (_, i) => {
      const secret = new Uint8Array(32).fill(i + 1);
      return { address: new Uint8Array(20).fill(0x40 + i), secret, key: x25519.getPublicKey(secret) };
    });
    // u = 1, a low-order point anyone can register (the contract refuses only zero).
    const weakKey = new Uint8Array(32);
    weakKey[0] = 1;
    expect(isWeakKey(weakKey)).toBe(true);
    expect(isWeakKey(people[0].key)).toBe(false);
    const weak = { address: new Uint8Array(20).fill(0x41).fill(0x99, 19), key: weakKey };
    const built = buildBundle(channel, 3n, key, [...people, weak]);
    expect(built.weak.map((a) => bytesToHex(a))).toEqual([bytesToHex(weak.address)]);
    expect(parseRoot(built.root, channel, 3n).members).toBe(3);
    expect(partHolds(built.parts[0], weak.address)).toBe(false);
    for (const p of people) {
      expect(partHolds(built.parts[0], p.address)).toBe(true);
      expect(bytesToHex(openPart(built.parts[0], channel, 3n, p.address, p.secret))).toBe(bytesToHex(key));
    }
  });
});

describe('why the page cannot post to a channel', () => {
  const token = '0x00000000000000000000000000000000000000aa' as Hex;
  it('a member of an open channel posts', () => {
    expect(postBlock(true, { gate: 0, token, minBalance: 0n })).toBeUndefined();
  });
  it('a non-member is told so', () => {
    expect(postBlock(false, { gate: 0, token, minBalance: 0n })).toMatch(/not a member/);
  });
  it('a non-holder is told the gate and their balance', () => {
    expect(postBlock(false, { gate: 1, token, minBalance: 100n }, 99n)).toMatch(/at least 100 of the ERC-20 token .*you hold 99/);
  });
  it('a holder is told the page does not send the direct post a gated channel takes', () => {
    const said = postBlock(true, { gate: 2, token, minBalance: 1n });
    expect(said).toMatch(/ERC-721 token/);
    expect(said).toMatch(/cairn channel post/);
  });
});
