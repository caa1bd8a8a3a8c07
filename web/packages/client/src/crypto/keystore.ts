// Opens a messaging-key keystore written by the CLI (`cairn key new`): Web3
// Secret Storage version 3 (scrypt or PBKDF2, AES-128-CTR, a Keccak MAC), so
// a user whose key is not derived from the wallet can read here too.

import { ctr } from '@noble/ciphers/aes.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { pbkdf2Async } from '@noble/hashes/pbkdf2.js';
import { scryptAsync } from '@noble/hashes/scrypt.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { hexToBytes } from 'viem';
import type { MessagingKey } from './walletKey.js';

interface KeystoreV3 {
  version: number;
  crypto: {
    cipher: string;
    cipherparams: { iv: string };
    ciphertext: string;
    kdf: 'scrypt' | 'pbkdf2';
    kdfparams: { dklen: number; salt: string; n?: number; r?: number; p?: number; c?: number; prf?: string };
    mac: string;
  };
}

export class KeystoreError extends Error {}

const hex = (s: string) => hexToBytes(s.startsWith('0x') ? (s as `0x${string}`) : `0x${s}`);

/** The messaging key in `json`, or a clear error: not a keystore, wrong passphrase. */
export async function openKeystore(json: string, passphrase: string): Promise<MessagingKey> {
  let keystore: KeystoreV3;
  try {
    keystore = JSON.parse(json);
  } catch {
    throw new KeystoreError('This file is not a keystore (not JSON).');
  }
  const c = keystore?.crypto;
  if (keystore?.version !== 3 || !c || c.cipher !== 'aes-128-ctr') {
    throw new KeystoreError('This file is not a version 3 keystore.');
  }
  const password = new TextEncoder().encode(passphrase);
  const k = c.kdfparams;
  let derived: Uint8Array;
  if (c.kdf === 'scrypt' && k.n && k.r && k.p) {
    if (k.n > 1 << 20) throw new KeystoreError('The keystore asks for more scrypt work than a page can do.');
    derived = await scryptAsync(password, hex(k.salt), { N: k.n, r: k.r, p: k.p, dkLen: k.dklen });
  } else if (c.kdf === 'pbkdf2' && k.c && k.prf === 'hmac-sha256') {
    derived = await pbkdf2Async(sha256, password, hex(k.salt), { c: k.c, dkLen: k.dklen });
  } else {
    throw new KeystoreError(`Unsupported key derivation ${c.kdf}.`);
  }
  const ciphertext = hex(c.ciphertext);
  const mac = keccak_256(new Uint8Array([...derived.subarray(16, 32), ...ciphertext]));
  const expected = hex(c.mac);
  if (mac.length !== expected.length || mac.some((b, i) => b !== expected[i])) {
    throw new KeystoreError('Wrong passphrase (or a damaged keystore).');
  }
  const secret = ctr(derived.subarray(0, 16), hex(c.cipherparams.iv)).decrypt(ciphertext);
  if (secret.length !== 32) throw new KeystoreError('The keystore does not hold a 32-byte key.');
  return { secret, public: x25519.getPublicKey(secret) };
}
