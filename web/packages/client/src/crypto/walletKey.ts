// The messaging key derived from a wallet signature (docs/ENVELOPE.md,
// "Keys derived from a wallet"): the same key as the CLI's, on any device.

import { x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { type Address, getAddress, type Hex, hexToBytes, recoverMessageAddress } from 'viem';

const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const SALT = new TextEncoder().encode('cairn/v1/wallet-key');

/** The exact text the wallet signs with personal_sign. */
export function keyMessage(address: Address): string {
  return [
    'Cairn messaging key v1',
    '',
    'Sign this message to derive your Cairn encryption key.',
    'Anyone holding this signature can read your Cairn messages:',
    'only sign it in Cairn software you trust.',
    '',
    `Address: ${getAddress(address)}`,
  ].join('\n');
}

export interface MessagingKey {
  secret: Uint8Array;
  public: Uint8Array;
}

/** Checks that `signature` is `address`'s over keyMessage, then derives the key. */
export async function keyFromSignature(address: Address, signature: Hex): Promise<MessagingKey> {
  const message = keyMessage(address);
  const signer = await recoverMessageAddress({ message, signature });
  if (signer.toLowerCase() !== address.toLowerCase()) {
    throw new Error('the signature is not from this wallet');
  }
  const sig = hexToBytes(signature);
  if (sig.length !== 65) throw new Error('expected a 65-byte signature');
  const r = sig.slice(0, 32);
  let s = BigInt('0x' + Array.from(sig.slice(32, 64), (b) => b.toString(16).padStart(2, '0')).join(''));
  if (s > SECP256K1_N / 2n) s = SECP256K1_N - s; // a malleated signature gives the same key
  const sBytes = hexToBytes(`0x${s.toString(16).padStart(64, '0')}`);
  const ikm = new Uint8Array(64);
  ikm.set(r, 0);
  ikm.set(sBytes, 32);
  const secret = hkdf(sha256, ikm, SALT, hexToBytes(getAddress(address)), 32);
  return { secret, public: x25519.getPublicKey(secret) };
}
