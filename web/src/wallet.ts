// Browser wallets: discovered by EIP-6963 announcements (mipd), with
// `window.ethereum` (EIP-1193) as the fallback for wallets that only inject.

import { createStore, type EIP6963ProviderDetail } from 'mipd';
import type { EIP1193Provider } from 'viem';

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

/** Whether an error is the user declining in their wallet (EIP-1193 code 4001). */
export function isRejection(error: unknown): boolean {
  for (let e = error as { code?: number; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (e.code === 4001) return true;
  }
  return false;
}
