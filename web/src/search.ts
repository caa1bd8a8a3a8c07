// Search over the user's decrypted mail, in the browser. The node only sees
// ciphertext, so it cannot search; the page can, because it holds the text.
//
// The index lives in memory (a word → messages map, prefix matching), and
// the decrypted history it is built from is kept in IndexedDB encrypted
// under a key derived from the messaging key: another site, or someone
// reading the disk, sees ciphertext. Unlocking again rebuilds the index.

import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { openRecord, sealRecord } from './crypto/records';

/** What is indexed of one message. */
export interface Indexed {
  id: string;
  from: string;
  text: string;
  /** Unix milliseconds. */
  at: number;
  /** The channel a channel post was written to (its id); absent for a direct message. */
  channel?: string;
}

/** Words: runs of letters and digits, lower-cased. */
export function words(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

export class SearchIndex {
  private readonly docs = new Map<string, Indexed>();
  private readonly postings = new Map<string, Set<string>>();
  private sortedWords: string[] | null = null;

  get size(): number {
    return this.docs.size;
  }

  has(id: string): boolean {
    return this.docs.has(id);
  }

  add(doc: Indexed) {
    if (this.docs.has(doc.id)) return;
    this.docs.set(doc.id, doc);
    for (const word of new Set(words(doc.text))) {
      let ids = this.postings.get(word);
      if (!ids) {
        ids = new Set();
        this.postings.set(word, ids);
        this.sortedWords = null;
      }
      ids.add(doc.id);
    }
  }

  /** Messages holding every word of `query` (the last may be a prefix), newest first. */
  search(query: string, limit = 50): Indexed[] {
    const terms = words(query);
    if (terms.length === 0) return [];
    let hits: Set<string> | null = null;
    terms.forEach((term, i) => {
      const ids = i === terms.length - 1 ? this.prefixed(term) : (this.postings.get(term) ?? new Set<string>());
      hits = hits === null ? ids : new Set([...hits].filter((id) => ids.has(id)));
    });
    return [...(hits ?? [])]
      .map((id) => this.docs.get(id)!)
      .sort((a, b) => b.at - a.at)
      .slice(0, limit);
  }

  /** Ids of messages with a word starting with `prefix` (binary search in the sorted words). */
  private prefixed(prefix: string): Set<string> {
    this.sortedWords ??= [...this.postings.keys()].sort();
    const all = this.sortedWords;
    let [lo, hi] = [0, all.length];
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (all[mid] < prefix) lo = mid + 1;
      else hi = mid;
    }
    const ids = new Set<string>();
    for (let i = lo; i < all.length && all[i].startsWith(prefix); i++) {
      for (const id of this.postings.get(all[i])!) ids.add(id);
    }
    return ids;
  }
}

/** Where encrypted records are kept: IndexedDB in the page, a Map in tests. */
export interface RecordStore {
  put(id: string, record: Uint8Array): Promise<void>;
  all(): Promise<Uint8Array[]>;
  delete(id: string): Promise<void>;
}

/** An at-rest key for `purpose`: HKDF of the messaging secret, for this wallet only. */
export function recordKey(messagingSecret: Uint8Array, address: string, purpose: 'search' | 'outbox' | 'labels'): Uint8Array {
  const info = new TextEncoder().encode(`cairn/v1/${purpose} ${address.toLowerCase()}`);
  return hkdf(sha256, messagingSecret, new Uint8Array(0), info, 32);
}

/** The history's at-rest key. */
export const historyKey = (messagingSecret: Uint8Array, address: string) => recordKey(messagingSecret, address, 'search');

/** Encrypted, searchable history: records sealed with XChaCha20-Poly1305 under `key`. */
export class History {
  readonly index = new SearchIndex();

  constructor(
    private readonly key: Uint8Array,
    private readonly store: RecordStore,
  ) {}

  /** Decrypts every stored record into the index; records that do not open are skipped. */
  async load(): Promise<number> {
    for (const record of await this.store.all()) {
      try {
        this.index.add(openRecord<Indexed>(this.key, record));
      } catch {
        // Another key's record (a rotated key), or damage: not ours to show.
      }
    }
    return this.index.size;
  }

  /** Indexes and stores `doc`, once. */
  async add(doc: Indexed) {
    if (this.index.has(doc.id)) return;
    this.index.add(doc);
    await this.store.put(doc.id, sealRecord(this.key, doc));
  }
}

/** The records in IndexedDB, one database per wallet and purpose. */
export function indexedDbStore(address: string, purpose: 'history' | 'outbox' | 'labels' = 'history'): RecordStore {
  const records = idbRecords(`cairn-${purpose}-${address.toLowerCase()}`);
  return {
    put: (id, record) => records.put(id, record),
    all: () => records.all() as Promise<Uint8Array[]>,
    delete: (id) => records.delete(id),
  };
}

/** One IndexedDB database of keyed records (any structured-cloneable value, CryptoKeys included). */
export function idbRecords(name: string) {
  const opened = new Promise<IDBDatabase>((resolve, reject) => {
    const request = indexedDB.open(name, 1);
    request.onupgradeneeded = () => request.result.createObjectStore('records');
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  const run = <T>(mode: IDBTransactionMode, op: (s: IDBObjectStore) => IDBRequest<T>) =>
    opened.then(
      (db) =>
        new Promise<T>((resolve, reject) => {
          const request = op(db.transaction('records', mode).objectStore('records'));
          request.onsuccess = () => resolve(request.result);
          request.onerror = () => reject(request.error);
        }),
    );
  return {
    get: (id: string) => run<unknown>('readonly', (s) => s.get(id)),
    put: async (id: string, record: unknown) => void (await run('readwrite', (s) => s.put(record, id))),
    all: () => run<unknown[]>('readonly', (s) => s.getAll()),
    delete: async (id: string) => void (await run('readwrite', (s) => s.delete(id))),
  };
}
