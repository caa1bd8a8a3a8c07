// CIDv1, raw codec, sha2-256, base32: the name of every Cairn block, rebuilt
// from the digest the chain anchors.

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

export function cidForDigest(digest: Uint8Array): string {
  if (digest.length !== 32) throw new Error('a sha2-256 digest is 32 bytes');
  const bytes = new Uint8Array(36);
  bytes.set([0x01, 0x55, 0x12, 0x20]);
  bytes.set(digest, 4);
  let out = 'b';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}
