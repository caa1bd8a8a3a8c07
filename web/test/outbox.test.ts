// The outbox survives a reload, sealed at rest, and resumes honestly.

import { describe, expect, it } from 'vitest';
import { type Kept, Outbox, resumed } from '../src/outbox';
import { recordKey } from '../src/search';
import { memoryStore } from './memory';

const message = (local: string, state: Kept['state'], at: number): Kept => ({
  local,
  to: '0x0000000000000000000000000000000000000002',
  text: `secret plan ${local}`,
  state,
  at,
});

describe('outbox', () => {
  const key = recordKey(new Uint8Array(32).fill(7), '0xAbC', 'outbox');

  it('keeps messages sealed, newest first, and forgets confirmed ones', async () => {
    const store = memoryStore();
    const outbox = new Outbox(key, store);
    await outbox.save(message('a', 'accepted', 1));
    await outbox.save(message('b', 'failed', 2));
    for (const record of store.records.values()) expect(new TextDecoder().decode(record)).not.toContain('secret plan');
    expect((await new Outbox(key, store).load()).map((k) => k.local)).toEqual(['b', 'a']);
    await outbox.save({ ...message('a', 'confirmed', 1) });
    expect((await outbox.load()).map((k) => k.local)).toEqual(['b']);
  });
  it("opens nothing under another wallet's key", async () => {
    const store = memoryStore();
    await new Outbox(key, store).save(message('a', 'accepted', 1));
    const other = recordKey(new Uint8Array(32).fill(7), '0xDef', 'outbox');
    expect(await new Outbox(other, store).load()).toEqual([]);
    expect(other).not.toEqual(recordKey(new Uint8Array(32).fill(7), '0xDef', 'search'));
  });
  it('resumes what the gateway took, and fails what it never got', () => {
    expect(resumed(message('a', 'accepted', 1)).state).toBe('accepted');
    expect(resumed(message('a', 'anchored', 1)).state).toBe('anchored');
    const lost = resumed(message('a', 'signing', 1));
    expect([lost.state, lost.detail]).toEqual(['failed', expect.stringContaining('nothing was sent')]);
  });
});
