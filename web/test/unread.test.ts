// Unread counts survive a reload and count only what came after a look.

import { describe, expect, it } from 'vitest';
import { favicon, ReadMarks, titled, type Countable } from '../src/unread';
import { memoryStorage } from './memory';

const store = memoryStorage;
const at = (block: number, logIndex = 0, item = 0, counts = true): Countable => ({ position: { block, logIndex, item }, counts });

describe('read marks', () => {
  it('count nothing on a new device, then what arrives after', () => {
    const memory = store();
    const marks = new ReadMarks(memory, 'k');
    const history = [at(1), at(2, 3), at(2, 3, 1)];
    marks.mark('inbox', history, true);
    expect(marks.unread('inbox', history)).toBe(0);
    const arrived = [...history, at(3), at(3, 1, 0, false), at(4)];
    expect(marks.unread('inbox', arrived)).toBe(2);
    // A reload (a new ReadMarks on the same storage) keeps the count.
    expect(new ReadMarks(memory, 'k').unread('inbox', arrived)).toBe(2);
    // The first load of a later visit does not mark them read.
    marks.mark('inbox', arrived, true);
    expect(marks.unread('inbox', arrived)).toBe(2);
    marks.mark('inbox', arrived);
    expect(marks.unread('inbox', arrived)).toBe(0);
  });
  it('keep boxes and wallets apart, and never move a mark back', () => {
    const memory = store();
    const alice = new ReadMarks(memory, 'alice');
    alice.mark('inbox', [at(5)], true);
    alice.mark('requests', [], true);
    expect(alice.unread('requests', [at(1)])).toBe(1);
    expect(new ReadMarks(memory, 'bob').unread('inbox', [at(9)])).toBe(0);
    alice.mark('inbox', [at(2)]);
    expect(alice.unread('inbox', [at(3), at(6)])).toBe(1);
    // Items of one batch are ordered too.
    expect(alice.unread('inbox', [at(5, 0, 1)])).toBe(1);
  });
  it("count a conversation this device never opened from the device's first look", () => {
    const marks = new ReadMarks(store(), 'k');
    marks.mark('device', [at(5)], true);
    expect(marks.unread('chat:alice', [at(4), at(6)], 'device')).toBe(1);
    marks.mark('chat:alice', [at(6)]);
    expect(marks.unread('chat:alice', [at(4), at(6), at(7)], 'device')).toBe(1);
    expect(marks.unread('chat:bob', [at(9)])).toBe(0);
  });
  it('put the total in the title and on the favicon', () => {
    expect(titled(0)).toBe('Cairn');
    expect(titled(3)).toBe('(3) Cairn');
    expect(titled(250)).toBe('(99+) Cairn');
    expect(decodeURIComponent(favicon(3))).toContain('>3</text>');
    expect(decodeURIComponent(favicon(0))).not.toContain('<text');
  });
});
