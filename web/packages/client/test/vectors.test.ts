// The shared vectors in tests/vectors/, made by the Rust implementation:
// the TypeScript one must reproduce every byte and open every envelope.

import { readFileSync } from 'node:fs';
import { bytesToHex, type Hex, hexToBytes } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { describe, expect, it } from 'vitest';
import { decodeBody, encodeBody } from '../src/index.js';
import { cidForDigest } from '../src/index.js';
import { digestOf, open, seal } from '../src/index.js';
import { openKeystore } from '../src/index.js';
import { keyFromSignature, keyMessage } from '../src/index.js';

const vectors = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../../../tests/vectors/${name}`, import.meta.url), 'utf8'));

interface EnvelopeCase {
  name: string;
  sender: Hex;
  recipient: Hex;
  timestamp: number;
  replyTo: Hex | null;
  nonce: Hex;
  contentKey: Hex;
  ephemeralSecrets: Hex[];
  readers: { public: Hex; secret: Hex }[];
  body: { kind: 0 | 1 | 2 | 3; text: string; attachments: { name: string; data: Hex }[] };
  envelope: Hex;
  digest: Hex;
  cid: string;
}

const cases: EnvelopeCase[] = vectors('envelope-v1.json').cases;
const bodyOf = (c: EnvelopeCase) => ({
  kind: c.body.kind,
  text: c.body.text,
  attachments: c.body.attachments.map((a) => ({ name: a.name, data: hexToBytes(a.data) })),
});

describe('envelope v1 vectors', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s seals to the same bytes', (_, c) => {
    const header = {
      sender: hexToBytes(c.sender),
      recipient: hexToBytes(c.recipient),
      timestamp: BigInt(c.timestamp),
      replyTo: c.replyTo ? hexToBytes(c.replyTo) : new Uint8Array(32),
    };
    const sealed = seal(
      header,
      bodyOf(c),
      c.readers.map((r) => hexToBytes(r.public)),
      {
        contentKey: hexToBytes(c.contentKey),
        nonce: hexToBytes(c.nonce),
        ephemeralSecrets: c.ephemeralSecrets.map((s) => hexToBytes(s)),
      },
    );
    expect(bytesToHex(sealed)).toBe(c.envelope);
    expect(bytesToHex(digestOf(sealed))).toBe(c.digest);
    expect(cidForDigest(digestOf(sealed))).toBe(c.cid);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s opens for every reader', (_, c) => {
    for (const reader of c.readers) {
      const opened = open(hexToBytes(c.envelope), [hexToBytes(reader.secret)]);
      expect(opened.body.text).toBe(c.body.text);
      expect(opened.body.kind).toBe(c.body.kind);
      expect(bytesToHex(opened.header.sender)).toBe(c.sender);
      expect(encodeBody(opened.body)).toEqual(encodeBody(bodyOf(c)));
    }
  });

  it('fails on any altered byte, and for a key that is not a reader', () => {
    const c = cases[0];
    const envelope = hexToBytes(c.envelope);
    const secret = hexToBytes(c.readers[0].secret);
    for (const at of [10, 60, 100, 130, envelope.length - 1]) {
      const altered = envelope.slice();
      altered[at] ^= 1;
      expect(() => open(altered, [secret])).toThrow();
    }
    expect(() => open(envelope, [new Uint8Array(32).fill(7)])).toThrow(/not among the readers/);
  });

  it('refuses trailing bytes and unknown kinds in a body', () => {
    const bytes = encodeBody({ kind: 0, text: 'hi', attachments: [] });
    expect(() => decodeBody(Uint8Array.of(...bytes, 0))).toThrow(/trailing/);
    expect(() => decodeBody(Uint8Array.of(9, ...bytes.slice(1)))).toThrow(/kind/);
  });
});

describe('wallet key v1 vectors', () => {
  interface WalletCase {
    address: Hex;
    message: string;
    privateKey: Hex;
    signature: Hex;
    x25519Secret: Hex;
    x25519Public: Hex;
  }
  const walletCases: WalletCase[] = vectors('wallet-key-v1.json').cases;
  it.each(walletCases.map((c) => [c.address, c] as const))(
    '%s derives the same key',
    async (_, c) => {
      const account = privateKeyToAccount(c.privateKey);
      expect(keyMessage(account.address)).toBe(c.message);
      const signature = await account.signMessage({ message: c.message });
      expect(signature).toBe(c.signature);
      const key = await keyFromSignature(account.address, signature);
      expect(bytesToHex(key.secret)).toBe(c.x25519Secret);
      expect(bytesToHex(key.public)).toBe(c.x25519Public);
    },
  );

  it('refuses a signature by another wallet', async () => {
    const c = walletCases[0];
    const other = privateKeyToAccount(`0x${'11'.repeat(32)}`);
    const signature = await other.signMessage({ message: c.message });
    await expect(keyFromSignature(c.address, signature)).rejects.toThrow(/not from this wallet/);
  });
});

describe('keystore v3 vectors', () => {
  const cases: { passphrase: string; x25519Public: Hex; keystore: unknown }[] = vectors('keystore-v3.json').cases;
  it('opens the CLI keystore to the same key', async () => {
    for (const c of cases) {
      const key = await openKeystore(JSON.stringify(c.keystore), c.passphrase);
      expect(bytesToHex(key.public)).toBe(c.x25519Public);
    }
  });

  it('refuses a wrong passphrase and a file that is not a keystore', async () => {
    const json = JSON.stringify(cases[0].keystore);
    await expect(openKeystore(json, 'wrong')).rejects.toThrow(/Wrong passphrase/);
    await expect(openKeystore('{}', 'x')).rejects.toThrow(/not a version 3 keystore/);
    await expect(openKeystore('nope', 'x')).rejects.toThrow(/not JSON/);
  });
});
