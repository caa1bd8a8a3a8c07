import { describe, expect, it } from 'vitest';
import { History, historyKey, SearchIndex, words } from '../src/search';

import { memoryStore as memory } from './memory';

describe('search', () => {
  it('splits words across scripts and punctuation', () => {
    expect(words('GM, Bob! Ünïcode—test 42x')).toEqual(['gm', 'bob', 'ünïcode', 'test', '42x']);
  });

  it('finds every word, the last as a prefix, newest first', () => {
    const index = new SearchIndex();
    index.add({ id: 'a', from: 'x', text: 'the treasury vote is tomorrow', at: 1 });
    index.add({ id: 'b', from: 'y', text: 'Treasury report attached', at: 2 });
    index.add({ id: 'c', from: 'z', text: 'lunch?', at: 3 });
    expect(index.search('treasury').map((d) => d.id)).toEqual(['b', 'a']);
    expect(index.search('treasury vo').map((d) => d.id)).toEqual(['a']);
    expect(index.search('tre').map((d) => d.id)).toEqual(['b', 'a']);
    expect(index.search('dinner')).toEqual([]);
    expect(index.search('  ')).toEqual([]);
  });

  it('keeps the history encrypted at rest, readable only with the same key', async () => {
    const store = memory();
    const key = historyKey(new Uint8Array(32).fill(1), '0xAbC');
    const history = new History(key, store);
    await history.add({ id: 'm1', from: '0x1', text: 'secret ballot results', at: 5 });
    await history.add({ id: 'm1', from: '0x1', text: 'secret ballot results', at: 5 });
    expect(store.records.size).toBe(1);
    const stored = new TextDecoder().decode([...store.records.values()][0]);
    expect(stored).not.toContain('ballot');

    const again = new History(key, store);
    expect(await again.load()).toBe(1);
    expect(again.index.search('ballot')[0].id).toBe('m1');

    const stranger = new History(historyKey(new Uint8Array(32).fill(2), '0xabc'), store);
    expect(await stranger.load()).toBe(0);
  });
});
