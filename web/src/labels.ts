// Contact labels: names the user gives wallets on this device ("Bob,
// treasurer"). They are the user's own word, never a node's: kept sealed
// (crypto/records.ts) in IndexedDB under a key derived from the messaging
// secret, and shown beside the address, never instead of it.

import { getAddress } from 'viem';
import { openRecord, sealRecord } from './crypto/records';
import type { RecordStore } from './search';

/** The longest label, in characters. */
export const MAX_LABEL = 40;

interface Kept {
  address: string;
  label: string;
}

export class Labels {
  private readonly byAddress = new Map<string, string>();

  constructor(
    private readonly key: Uint8Array,
    private readonly store: RecordStore,
  ) {}

  /** Reads every label this key opens; another key's records are skipped. */
  async load() {
    for (const record of await this.store.all()) {
      try {
        const kept = openRecord<Kept>(this.key, record);
        this.byAddress.set(getAddress(kept.address), kept.label);
      } catch {
        // Another wallet's record, or damage.
      }
    }
  }

  get(address: string): string | undefined {
    return this.byAddress.get(getAddress(address));
  }

  /** Sets (or, with an empty label, removes) the label of `address`. */
  async set(address: string, label: string) {
    const checksummed = getAddress(address);
    const trimmed = label.trim().slice(0, MAX_LABEL);
    if (!trimmed) {
      this.byAddress.delete(checksummed);
      await this.store.delete(checksummed);
      return;
    }
    this.byAddress.set(checksummed, trimmed);
    await this.store.put(checksummed, sealRecord(this.key, { address: checksummed, label: trimmed } satisfies Kept));
  }
}
