// Browser wallets: discovered by EIP-6963 announcements (mipd), with
// `window.ethereum` (EIP-1193) as the fallback for wallets that only inject.

import { createStore, type EIP6963ProviderDetail } from 'mipd';
import type { Chain, EIP1193Provider } from 'viem';
import { anvil, arbitrum, base, gnosis, mainnet, optimism, polygon, sepolia } from 'viem/chains';

export interface Wallet {
  id: string;
  name: string;
  icon?: string;
  provider: EIP1193Provider;
}

declare global {
  interface Window {
    ethereum?: EIP1193Provider;
  }
}

/** Calls `onChange` with the wallets found now and whenever one announces itself. */
export function discoverWallets(onChange: (wallets: Wallet[]) => void): () => void {
  const store = createStore();
  const list = (details: readonly EIP6963ProviderDetail[]): Wallet[] => {
    const wallets: Wallet[] = details.map((d) => ({
      id: d.info.uuid,
      name: d.info.name,
      icon: d.info.icon,
      provider: d.provider as EIP1193Provider,
    }));
    if (wallets.length === 0 && window.ethereum) {
      wallets.push({ id: 'injected', name: 'Browser wallet', provider: window.ethereum });
    }
    return wallets;
  };
  onChange(list(store.getProviders()));
  const unsubscribe = store.subscribe((details) => onChange(list(details)));
  return () => {
    unsubscribe();
    store.destroy();
  };
}

/**
 * Chains the page offers to a wallet that does not know them (EIP-3085),
 * with the RPC and explorer that viem ships. The list is built into the
 * page: the node never chooses the RPC a wallet adds, because every check
 * the page makes reads the chain through that wallet.
 */
export const KNOWN_CHAINS: readonly Chain[] = [mainnet, sepolia, optimism, base, arbitrum, polygon, gnosis, anvil];

/** EIP-1193 codes the page acts on. */
export const USER_REJECTED = 4001;
export const UNRECOGNIZED_CHAIN = 4902;

/**
 * Whether a wallet's error, or one it wraps, has this EIP-1193 `code`.
 * viem keeps the wallet's error as `cause`; some wallets put the original
 * in `data.originalError`.
 */
export function hasCode(error: unknown, code: number): boolean {
  type Coded = { code?: number; cause?: unknown; data?: { originalError?: unknown } };
  const seen = new Set<unknown>();
  const queue: unknown[] = [error];
  while (queue.length > 0) {
    const e = queue.shift() as Coded | undefined;
    if (!e || typeof e !== 'object' || seen.has(e)) continue;
    seen.add(e);
    if (e.code === code) return true;
    queue.push(e.cause, e.data?.originalError);
  }
  return false;
}

/** Whether an error is the user declining in their wallet. */
export const isRejection = (error: unknown): boolean => hasCode(error, USER_REJECTED);
