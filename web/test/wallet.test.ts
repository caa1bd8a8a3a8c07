// What the page reads in a wallet's errors, however they are wrapped.

import { ProviderRpcError, SwitchChainError, UserRejectedRequestError } from 'viem';
import { describe, expect, it } from 'vitest';
import { hasCode, isRejection, KNOWN_CHAINS, UNRECOGNIZED_CHAIN } from '../src/wallet';

describe('wallet errors', () => {
  it('finds 4902 in the error viem wraps around the wallet’s', () => {
    const fromWallet = Object.assign(new Error('Unrecognized chain ID "0x7a69".'), { code: 4902 });
    const wrapped = new SwitchChainError(fromWallet);
    expect(hasCode(wrapped, UNRECOGNIZED_CHAIN)).toBe(true);
    expect(isRejection(wrapped)).toBe(false);
  });
  it('finds a code a wallet put in data.originalError', () => {
    const nested = new ProviderRpcError(new Error('internal'), { code: -32603, shortMessage: 'internal', data: { originalError: { code: 4902 } } });
    expect(hasCode(nested, UNRECOGNIZED_CHAIN)).toBe(true);
  });
  it('tells a declined request apart, and survives a cycle', () => {
    expect(isRejection(new UserRejectedRequestError(new Error('no')))).toBe(true);
    const loop: { code: number; cause?: unknown } = { code: -1 };
    loop.cause = loop;
    expect(hasCode(loop, 4001)).toBe(false);
  });
  it('offers only chains built into the page, Anvil among them with its local RPC', () => {
    const anvil = KNOWN_CHAINS.find((c) => c.id === 31337);
    expect(anvil?.rpcUrls.default.http).toEqual(['http://127.0.0.1:8545']);
    expect(new Set(KNOWN_CHAINS.map((c) => c.id)).size).toBe(KNOWN_CHAINS.length);
  });
});
