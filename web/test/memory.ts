// What the page keeps in the browser, in memory for tests: a RecordStore
// (IndexedDB) and a Storage (localStorage).

import type { RecordStore } from '../src/search';
import type { Memory } from '../src/trust';

export const memoryStore = (): RecordStore & { records: Map<string, Uint8Array> } => {
  const records = new Map<string, Uint8Array>();
  return {
    records,
    put: async (id, r) => void records.set(id, r),
    all: async () => [...records.values()],
    delete: async (id) => void records.delete(id),
  };
};

export const memoryStorage = (): Memory & { map: Map<string, string> } => {
  const map = new Map<string, string>();
  return {
    map,
    getItem: (k) => map.get(k) ?? null,
    setItem: (k, v) => void map.set(k, v),
    key: (i) => [...map.keys()][i] ?? null,
    get length() {
      return map.size;
    },
  };
};
