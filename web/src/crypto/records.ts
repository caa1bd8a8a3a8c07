// Records kept at rest in the page (the search history, the outbox):
// JSON sealed with XChaCha20-Poly1305 under a key derived from the
// messaging secret, so IndexedDB never holds a message in the clear.

import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { randomBytes } from '@noble/hashes/utils.js';

/** `value` as JSON, sealed under `key`: a 24-byte nonce, then the ciphertext. */
export function sealRecord(key: Uint8Array, value: unknown): Uint8Array {
  const nonce = randomBytes(24);
  const sealed = xchacha20poly1305(key, nonce).encrypt(new TextEncoder().encode(JSON.stringify(value)));
  const record = new Uint8Array(24 + sealed.length);
  record.set(nonce);
  record.set(sealed, 24);
  return record;
}

/** A record sealed by `sealRecord` under `key`; throws for another key's record or damage. */
export function openRecord<T>(key: Uint8Array, record: Uint8Array): T {
  const plain = xchacha20poly1305(key, record.subarray(0, 24)).decrypt(record.subarray(24));
  return JSON.parse(new TextDecoder().decode(plain)) as T;
}
