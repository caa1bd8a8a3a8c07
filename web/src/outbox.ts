// The outbox: messages this wallet wrote and the chain has not confirmed
// yet, kept (sealed, see crypto/records.ts) across reloads. A reload then
// shows each with its state, follows those the gateway took to their
// confirmation, and offers Retry for those that never reached it.

import type { Address, Hex } from 'viem';
import { openRecord, sealRecord } from './crypto/records';
import type { RecordStore } from './search';

/** What is kept of a message on its way. Attachments are not kept: they can be large. */
export interface Kept {
  /** This page's own id for it, before the gateway gives one. */
  local: string;
  to: Address;
  text: string;
  replying?: { digest: Hex; from: Address; text: string };
  digest?: Hex;
  /** The gateway's post id, once it took the post. */
  id?: Hex;
  state: 'sealing' | 'signing' | 'accepted' | 'anchored' | 'confirmed' | 'failed';
  detail?: string;
  /** Unix milliseconds it was written. */
  at: number;
}

/** What a reload makes of a kept message: one that never reached the gateway cannot be followed, only sent again. */
export function resumed(kept: Kept): Kept {
  return kept.state === 'sealing' || kept.state === 'signing'
    ? { ...kept, state: 'failed', detail: 'Interrupted by a reload before the gateway took it: nothing was sent.' }
    : kept;
}

export class Outbox {
  constructor(
    private readonly key: Uint8Array,
    private readonly store: RecordStore,
  ) {}

  /** Every kept message that opens under this key, newest first. */
  async load(): Promise<Kept[]> {
    const kept: Kept[] = [];
    for (const record of await this.store.all()) {
      try {
        kept.push(openRecord<Kept>(this.key, record));
      } catch {
        // Another key's record, or damage: not ours to show.
      }
    }
    return kept.sort((a, b) => b.at - a.at);
  }

  /** Keeps `message` as it is now; a confirmed one is done and forgotten. */
  async save(message: Kept) {
    if (message.state === 'confirmed') return this.forget(message.local);
    await this.store.put(message.local, sealRecord(this.key, message));
  }

  async forget(local: string) {
    await this.store.delete(local);
  }
}
