// A RecordStore in memory, for tests of what the page keeps in IndexedDB.

import type { RecordStore } from '../src/search';

export const memoryStore = (): RecordStore & { records: Map<string, Uint8Array> } => {
  const records = new Map<string, Uint8Array>();
  return {
    records,
    put: async (id, r) => void records.set(id, r),
    all: async () => [...records.values()],
    delete: async (id) => void records.delete(id),
  };
};
