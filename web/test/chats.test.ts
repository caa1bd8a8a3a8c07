// The conversation list and a thread, from the proven messages of every box.

import { describe, expect, it } from 'vitest';
import { conversations, preview, thread, type Line } from '../src/chats';

const line = (id: string, peer: string, block: number, mine = false, text = id): Line => ({
  id,
  peer,
  mine,
  position: { block, logIndex: 0, item: 0 },
  text,
});

describe('conversations', () => {
  const lines = [line('a1', 'A', 1), line('b1', 'B', 2), line('me-a', 'A', 3, true), line('b2', 'B', 4), line('a1', 'A', 1)];

  it('are one row per other party, the latest activity first, sent messages included', () => {
    const rows = conversations(lines, (peer) => (peer === 'B' ? 2 : 0));
    expect(rows.map((r) => [r.peer, r.last.id, r.unread])).toEqual([
      ['B', 'b2', 2],
      ['A', 'me-a', 0],
    ]);
  });
  it('thread a conversation oldest first, each message once', () => {
    expect(thread(lines, 'A').map((l) => l.id)).toEqual(['a1', 'me-a']);
    expect(thread(lines, 'C')).toEqual([]);
  });
  it('preview the first line, shortened', () => {
    expect(preview('  hello\nsecond line')).toBe('hello');
    expect(preview('x'.repeat(100)).length).toBe(80);
  });
});
