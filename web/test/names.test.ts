// ENS names as the page reads them: classic lookups through the wallet's
// RPC, a primary name only when forward and reverse agree. The chain is a
// table here; the browser test (`web_client`, "ENS names in and out") reads
// a real registry on Anvil.

import { describe, expect, it } from 'vitest';
import { getAddress, namehash, zeroAddress, type Address } from 'viem';
import { ENS_REGISTRY, NAME_LOOKUPS, Names, primaryName, showableAvatar, type EnsReader } from '../src/names';

const ALICE = getAddress('0x70997970c51812dc3a010c7d01b50e0d17dc79c8');
const MALLORY = getAddress('0x90f79bf6eb2c4f870365e785982e1f101e93b906');
const RESOLVER = getAddress('0x1111111111111111111111111111111111111111');
const reverseNode = (a: Address) => namehash(`${a.slice(2).toLowerCase()}.addr.reverse`);

/** A chain of ENS records: `resolver` per node, and each record on the one resolver. */
function chain(records: { resolvers: Record<string, Address>; addr?: Record<string, Address>; name?: Record<string, string>; text?: Record<string, string> }) {
  const calls: string[] = [];
  const client: EnsReader = {
    async readContract({ address, functionName, args }) {
      const node = args[0] as string;
      calls.push(`${functionName} ${node}`);
      if (functionName === 'resolver') {
        expect(address).toBe(ENS_REGISTRY);
        return records.resolvers[node] ?? zeroAddress;
      }
      expect(address).toBe(RESOLVER);
      if (functionName === 'addr') return records.addr?.[node] ?? zeroAddress;
      if (functionName === 'name') return records.name?.[node] ?? '';
      return records.text?.[`${node} ${args[1] as string}`] ?? '';
    },
  };
  return { client, calls };
}

const alice = (name = 'alice.eth', forward: Address = ALICE, avatar?: string) =>
  chain({
    resolvers: { [reverseNode(ALICE)]: RESOLVER, [namehash('alice.eth')]: RESOLVER },
    name: { [reverseNode(ALICE)]: name },
    addr: { [namehash('alice.eth')]: forward },
    text: avatar ? { [`${namehash('alice.eth')} avatar`]: avatar } : {},
  });

describe('primaryName', () => {
  it('names an address whose reverse record names a name that resolves back to it, with its avatar', async () => {
    const { client } = alice('alice.eth', ALICE, 'data:image/png;base64,AAAA');
    expect(await primaryName(client, ALICE)).toEqual({ name: 'alice.eth', avatar: 'data:image/png;base64,AAAA' });
  });

  it('shows no name that points elsewhere: anyone may write any name in their own reverse record', async () => {
    const { client } = alice('alice.eth', MALLORY);
    expect(await primaryName(client, ALICE)).toBeUndefined();
  });

  it('shows no name outside ENSIP-15 normal form, so a look-alike spelling never passes', async () => {
    const { client } = alice('Alice.eth');
    expect(await primaryName(client, ALICE)).toBeUndefined();
  });

  it('shows nothing on a chain with no ENS, or for an address with no reverse record', async () => {
    const { client } = chain({ resolvers: {} });
    expect(await primaryName(client, ALICE)).toBeUndefined();
  });
});

describe('showableAvatar', () => {
  it('keeps https URLs and data images, and drops what needs a gateway or is not an image', () => {
    expect(showableAvatar('https://example.org/a.png')).toBe('https://example.org/a.png');
    expect(showableAvatar('data:image/svg+xml;base64,PHN2Zy8+')).toBe('data:image/svg+xml;base64,PHN2Zy8+');
    for (const record of ['http://example.org/a.png', 'ipfs://bafy', 'eip155:1/erc721:0xabc/1', 'javascript:alert(1)', 'data:text/html,<b>', '', undefined]) {
      expect(showableAvatar(record)).toBeUndefined();
    }
  });
});

describe('Names', () => {
  it('looks each address up once, tells the page when a name arrives, and again after the TTL', async () => {
    const { client, calls } = alice();
    let now = 0;
    let changed = 0;
    const names = new Names(() => client, () => changed++, () => now);
    expect(names.of(ALICE)).toBeUndefined();
    expect(names.of(ALICE.toLowerCase())).toBeUndefined();
    await new Promise((r) => setTimeout(r, 0));
    await expect.poll(() => changed).toBe(1);
    expect(names.of(ALICE)).toEqual({ name: 'alice.eth' });
    const reads = calls.length;
    names.of(ALICE);
    expect(calls.length).toBe(reads);
    now += 6 * 60_000;
    names.of(ALICE);
    await expect.poll(() => calls.length).toBeGreaterThan(reads);
    // The same name again is no change to draw.
    await new Promise((r) => setTimeout(r, 10));
    expect(changed).toBe(1);
  });

  it('runs a few lookups at once, however many addresses a page shows', async () => {
    let [running, most, finished] = [0, 0, 0];
    const slow: EnsReader = {
      async readContract() {
        running++;
        most = Math.max(most, running);
        await new Promise((r) => setTimeout(r, 2));
        running--;
        finished++;
        return zeroAddress;
      },
    };
    const names = new Names(() => slow, () => {});
    const many = Array.from({ length: 12 }, (_, i) => getAddress(`0x${(i + 1).toString(16).padStart(40, '0')}`));
    for (const a of many) names.of(a);
    // An address with no reverse record costs one call: twelve in all.
    await expect.poll(() => finished).toBe(12);
    expect(most).toBe(NAME_LOOKUPS);
  });

  it('resolves what is typed in To: an address as it is, a name through its resolver, and says what is wrong', async () => {
    const { client } = alice();
    const names = new Names(() => client, () => {});
    expect(await names.resolve(` ${ALICE.toLowerCase()} `)).toBe(ALICE);
    expect(await names.resolve('Alice.eth')).toBe(ALICE);
    // Sent to whoever the name points at now, never to a cached answer.
    const moved = chain({ resolvers: { [namehash('alice.eth')]: RESOLVER }, addr: { [namehash('alice.eth')]: MALLORY } });
    let current = client;
    const live = new Names(() => current, () => {});
    expect(await live.resolve('alice.eth')).toBe(ALICE);
    current = moved.client;
    expect(await live.resolve('alice.eth')).toBe(MALLORY);
    await expect(names.resolve('bob.eth')).rejects.toThrow('bob.eth has no address on this chain.');
    await expect(names.resolve('alice')).rejects.toThrow('neither an Ethereum address');
    await expect(names.resolve('al ice.eth')).rejects.toThrow('is not a valid ENS name');
    await expect(new Names(() => undefined, () => {}).resolve('alice.eth')).rejects.toThrow('Connect a wallet');
  });
});
