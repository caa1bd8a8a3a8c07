// What this browser remembers so that no node can move it backwards: the
// contract it checks messages against, and the newest consent entry it has
// seen per peer. Both live in the browser's storage, never on the node.

import { type ConsentState, type NodeInfo } from '@cairn/client';

/** The storage the page uses (localStorage), as much of it as these need. */
export type Memory = Pick<Storage, 'getItem' | 'setItem' | 'key' | 'length'>;

const PIN = 'cairn-contract-';

/**
 * Trust on first use for the contract, keyed by the chain the wallet is on
 * (`chainId`, from the wallet's own `eth_chainId`; the node's word only
 * before a wallet is connected). The node names the contract the page
 * checks messages against, so a node that later names another one (where
 * its forgeries would verify), or no chain at all, is refused, loudly.
 * `?contract=0x…` in the URL may set the pin where there is none; it never
 * replaces one. Returns the refusal, or nothing when the node agrees.
 */
export function pinContract(info: NodeInfo, chainId: number | null, memory: Memory, search: string): string | undefined {
  const fromUrl = new URLSearchParams(search).get('contract');
  const refuse = (why: string) =>
    `${why} A node that changes contracts could show forged messages as verified, so nothing is shown. ` +
    "If the community really moved, clear this site's data to trust the new contract.";
  if (chainId === null) {
    const pins = Array.from({ length: memory.length }, (_, i) => memory.key(i)).filter((k) => k?.startsWith(PIN));
    return pins.length > 0 ? refuse('This node names no chain, and this browser has pinned a contract before.') : undefined;
  }
  const key = `${PIN}${chainId}`;
  const pinned = memory.getItem(key);
  if (pinned && fromUrl && fromUrl.toLowerCase() !== pinned.toLowerCase()) {
    return refuse(`The link names contract ${fromUrl}, but this browser trusts ${pinned} on chain ${chainId}; a link cannot replace it.`);
  }
  const trusted = pinned ?? fromUrl;
  if (trusted && trusted.toLowerCase() !== info.contract.toLowerCase()) {
    return refuse(`This node names contract ${info.contract}, but this page trusts ${trusted} on chain ${chainId}.`);
  }
  if (!pinned) memory.setItem(key, info.contract);
  return undefined;
}

/** A consent entry's state and when its owner signed it (seconds). */
export interface Said {
  state: ConsentState;
  issuedAt: number;
}

/**
 * The newest consent entry seen per peer, for one owner, kept in `memory`
 * under `key`. The node serves consent entries and could serve an older
 * (validly signed) "allow" in place of a newer "block", or leave one out;
 * the page keeps what it has seen and never goes back.
 */
export function consentMemory(memory: Pick<Storage, 'getItem' | 'setItem'>, key: string) {
  const read = (): Record<string, Said> => JSON.parse(memory.getItem(key) ?? '{}');
  return {
    /** Keeps `said` for `peer` unless a newer entry is known; returns the newest. */
    keep(peer: string, said: Said): Said {
      const all = read();
      const known = all[peer.toLowerCase()];
      if (known && known.issuedAt >= said.issuedAt) return known;
      all[peer.toLowerCase()] = said;
      memory.setItem(key, JSON.stringify(all));
      return said;
    },
    /** Every peer's newest entry (lowercase address → entry). */
    all(): Record<string, Said> {
      return read();
    },
  };
}

/**
 * Whether to show presence said to come from `from`: only from a wallet
 * our own consent list allows. The node relays presence only between
 * wallets that allowed each other, but a lying node could invent it, for
 * a sender we blocked as much as for a stranger.
 */
export function acceptsPresence(consent: ReadonlyMap<string, string>, from: string): boolean {
  return consent.get(from.toLowerCase()) === 'allow';
}
