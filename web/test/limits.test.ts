// The size shown while typing is the size Send would seal.

import { describe, expect, it } from 'vitest';
import {
  bodySize,
  encodeBody,
  MAX_BLOCK,
  seal,
  textBody,
} from '@cairn/client';
import { messageSize, sizeNote } from '../src/limits';

const key = (n: number) => {
  const k = new Uint8Array(32).fill(n);
  k[31] = 0x40;
  return k;
};

describe('limits', () => {
  it('count the bytes Send would seal, text and attachment alike', () => {
    const body = { ...textBody('gm, dao — ünïcode'), attachments: [{ name: 'minutes.txt', data: new Uint8Array(1000) }] };
    expect(bodySize(body.text, [{ name: 'minutes.txt', size: 1000 }])).toBe(encodeBody(body).length);
    const header = { sender: new Uint8Array(20), recipient: new Uint8Array(32), timestamp: 1n, replyTo: new Uint8Array(32) };
    const sealed = seal(header, body, [key(1), key(2)]);
    expect(messageSize(body.text, { name: 'minutes.txt', size: 1000 }).bytes).toBe(sealed.length);
  });
  it('say when a picked file is too large, before Send', () => {
    const big = messageSize('hi', { name: 'report.pdf', size: 2 * MAX_BLOCK });
    expect(big.over).toBe(true);
    expect(sizeNote(big)).toMatch(/^Too large by 1,024\.\d KiB/);
    const small = messageSize('hi', null);
    expect(small.over).toBe(false);
    expect(sizeNote(small)).toMatch(/ KiB of 1,024 KiB$/);
  });
});
