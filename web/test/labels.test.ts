// Contact labels: kept sealed, back after a reload, another wallet's unread.

import { describe, expect, it } from 'vitest';
import { Labels, MAX_LABEL } from '../src/labels';
import type { RecordStore } from '../src/search';

function memoryStore(): RecordStore & { map: Map<string, Uint8Array> } {
  const map = new Map<string, Uint8Array>();
  return { map, put: async (id, r) => void map.set(id, r), all: async () => [...map.values()], delete: async (id) => void map.delete(id) };
}

const bob = '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC';

describe('labels', () => {
  it('a label comes back after a reload, sealed at rest, and only under its own key', async () => {
    const store = memoryStore();
    const key = new Uint8Array(32).fill(1);
    await new Labels(key, store).set(bob.toLowerCase(), '  Bob, treasurer  ');
    const again = new Labels(key, store);
    await again.load();
    expect(again.get(bob)).toBe('Bob, treasurer');
    expect(new TextDecoder().decode([...store.map.values()][0])).not.toContain('treasurer');
    const other = new Labels(new Uint8Array(32).fill(2), store);
    await other.load();
    expect(other.get(bob)).toBeUndefined();
  });

  it('an empty label removes it, and a long one is cut', async () => {
    const store = memoryStore();
    const labels = new Labels(new Uint8Array(32), store);
    await labels.set(bob, 'x'.repeat(100));
    expect(labels.get(bob)).toHaveLength(MAX_LABEL);
    await labels.set(bob, '   ');
    expect(labels.get(bob)).toBeUndefined();
    expect(store.map.size).toBe(0);
  });
});
