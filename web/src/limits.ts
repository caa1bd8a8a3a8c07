// The size limit of a message, shown while the user types and as soon as
// a file is picked, not only when Send fails.

import { bodySize, MAX_BLOCK, sealedSize } from '@cairn/client';

/** Readers of a direct message: the recipient and the sender's own copy. */
const READERS = 2;

/** How full a message would be: its envelope's bytes, and whether they fit a block. */
export function messageSize(text: string, file: { name: string; size: number } | null) {
  const bytes = sealedSize(bodySize(text, file ? [file] : []), READERS);
  return { bytes, over: bytes > MAX_BLOCK };
}

const kib = (bytes: number) => `${(bytes / 1024).toLocaleString('en', { maximumFractionDigits: 1 })} KiB`;

/** The limit in words: how much of it is used, or by how much it is passed. */
export function sizeNote(size: { bytes: number; over: boolean }): string {
  return size.over
    ? `Too large by ${kib(size.bytes - MAX_BLOCK)}: a message holds at most ${kib(MAX_BLOCK)}, attachment included.`
    : `${kib(size.bytes)} of ${kib(MAX_BLOCK)}`;
}
