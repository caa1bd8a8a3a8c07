// What the browser remembers against a lying node: the contract pin and
// the newest consent entry per peer.

import { describe, expect, it } from 'vitest';
import { type NodeInfo } from '@cairn/client';
import { acceptsPresence, consentMemory, pinContract } from '../src/trust';
import { memoryStorage } from './memory';

const memory = memoryStorage;

const real = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
const fake = '0x000000000000000000000000000000000000dEaD';
const info = (contract: string, chainId: number | null = 31337) => ({ contract, chainId }) as NodeInfo;

describe('pinContract', () => {
  it('trusts the first contract on a chain, then refuses another', () => {
    const m = memory();
    expect(pinContract(info(real), 31337, m, '')).toBeUndefined();
    expect(m.map.get('cairn-contract-31337')).toBe(real);
    expect(pinContract(info(real), 31337, m, '')).toBeUndefined();
    expect(pinContract(info(fake), 31337, m, '')).toMatch(/names contract 0x0+dEaD/);
    // Another chain has a pin of its own.
    expect(pinContract(info(fake, 1), 1, m, '')).toBeUndefined();
  });

  it('is keyed by the chain the wallet names, and a node naming no chain is refused once a pin exists', () => {
    const m = memory();
    expect(pinContract(info(real, null), null, m, '')).toBeUndefined();
    expect(m.map.size).toBe(0);
    expect(pinContract(info(real, null), 31337, m, '')).toBeUndefined();
    expect(pinContract(info(fake, null), null, m, '')).toMatch(/names no chain/);
    expect(pinContract(info(fake, null), 31337, m, '')).toMatch(/names contract/);
  });

  it('lets a link set a pin, never replace one', () => {
    const m = memory();
    expect(pinContract(info(real), 31337, m, `?contract=${fake}`)).toMatch(/names contract/);
    expect(m.map.size).toBe(0);
    expect(pinContract(info(real), 31337, m, `?contract=${real}`)).toBeUndefined();
    expect(pinContract(info(fake), 31337, m, `?contract=${fake}`)).toMatch(/a link cannot replace it/);
    expect(m.map.get('cairn-contract-31337')).toBe(real);
  });
});

describe('consentMemory', () => {
  it('keeps the newest entry per peer and never goes back', () => {
    const m = memory();
    const said = consentMemory(m, 'consent');
    const peer = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
    expect(said.keep(peer, { state: 'allow', issuedAt: 100 })).toEqual({ state: 'allow', issuedAt: 100 });
    expect(said.keep(peer, { state: 'block', issuedAt: 200 })).toEqual({ state: 'block', issuedAt: 200 });
    // A node serving the older allow again gets the block back.
    expect(said.keep(peer, { state: 'allow', issuedAt: 100 })).toEqual({ state: 'block', issuedAt: 200 });
    // Remembered across page loads (a new memory over the same storage).
    expect(consentMemory(m, 'consent').all()).toEqual({ [peer.toLowerCase()]: { state: 'block', issuedAt: 200 } });
  });
});

describe('presence', () => {
  it('is shown only from wallets our own list allows, whatever the node relays', () => {
    const consent = new Map([
      ['0x70997970c51812dc3a010c7d01b50e0d17dc79c8', 'allow'],
      ['0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc', 'block'],
    ]);
    expect(acceptsPresence(consent, '0x70997970C51812dc3A010C7d01b50e0d17dc79C8')).toBe(true);
    expect(acceptsPresence(consent, '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC')).toBe(false);
    expect(acceptsPresence(consent, '0x90F79bf6EB2c4f870365E785982E1f101E93b906')).toBe(false);
  });
});
