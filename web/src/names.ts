// ENS names, forward and reverse, read through the wallet's own RPC.
//
// The page never asks the Cairn node who someone is. It reads ENS's
// registry at its canonical address, then the name's resolver, the classic
// way (ENSIP-1 and ENSIP-3). A name is shown for an address only when both
// directions agree: the reverse record names it, and that name's `addr`
// record points back (what ENS calls a primary name). The name must also be
// in ENSIP-15 normal form, so a look-alike spelling is never shown. There is
// no universal resolver here: names served off chain (CCIP-read) and
// wildcard resolvers are not resolved, and an address without an on-chain
// primary name shows as an address.

import { getAddress, isAddress, namehash, parseAbi, zeroAddress, type Address } from 'viem';
import { normalize } from 'viem/ens';

/** ENS's registry, at the same address on mainnet, Sepolia and Holesky (and on Cairn's local Anvil). */
export const ENS_REGISTRY: Address = '0x00000000000C2E074eC69A0dFb2997BA6C7d2e1e';

export const ensAbi = parseAbi([
  'function resolver(bytes32 node) view returns (address)',
  'function addr(bytes32 node) view returns (address)',
  'function name(bytes32 node) view returns (string)',
  'function text(bytes32 node, string key) view returns (string)',
]);

/** What the page reads from the chain: viem's `readContract`, enough for a test to stand in for it. */
export interface EnsReader {
  readContract(args: { address: Address; abi: typeof ensAbi; functionName: 'resolver' | 'addr' | 'name' | 'text'; args: readonly unknown[] }): Promise<unknown>;
}

/** A verified primary name, and the avatar record it sets (if any). */
export interface Named {
  name: string;
  avatar?: string;
}

async function resolverOf(client: EnsReader, node: `0x${string}`): Promise<Address | undefined> {
  const resolver = (await client.readContract({ address: ENS_REGISTRY, abi: ensAbi, functionName: 'resolver', args: [node] })) as Address;
  return resolver === zeroAddress ? undefined : resolver;
}

/** The name in ENSIP-15 normal form, or an error that says why it is not a name. */
export function normalName(name: string): string {
  try {
    return normalize(name.trim());
  } catch (e) {
    throw new Error(`"${name}" is not a valid ENS name: ${(e as Error).message.split('\n')[0]}`);
  }
}

/** The address `name`'s own resolver gives, or undefined when it names none. */
export async function addressOf(client: EnsReader, name: string): Promise<Address | undefined> {
  const node = namehash(normalName(name));
  const resolver = await resolverOf(client, node);
  if (!resolver) return undefined;
  const address = (await client.readContract({ address: resolver, abi: ensAbi, functionName: 'addr', args: [node] })) as Address;
  return address === zeroAddress ? undefined : getAddress(address);
}

/**
 * `address`'s primary name: its reverse record, kept only when the name is
 * normalized and resolves back to `address`. Undefined for no name, a
 * name that points elsewhere, or no ENS on this chain.
 */
export async function primaryName(client: EnsReader, address: Address): Promise<Named | undefined> {
  const reverse = namehash(`${address.slice(2).toLowerCase()}.addr.reverse`);
  const reverseResolver = await resolverOf(client, reverse);
  if (!reverseResolver) return undefined;
  const name = (await client.readContract({ address: reverseResolver, abi: ensAbi, functionName: 'name', args: [reverse] })) as string;
  if (!name) return undefined;
  let normal: string;
  try {
    normal = normalName(name);
  } catch {
    return undefined;
  }
  if (normal !== name) return undefined;
  const forward = await addressOf(client, name).catch(() => undefined);
  if (!forward || forward !== getAddress(address)) return undefined;
  const avatar = await avatarOf(client, name).catch(() => undefined);
  return avatar ? { name, avatar } : { name };
}

/**
 * The avatar record of `name`, when the page can show it as an image with
 * no third party's help: an `https:` URL or a `data:image/` URI. NFT
 * (`eip155:`) and `ipfs://` records would need a gateway, and are skipped.
 */
async function avatarOf(client: EnsReader, name: string): Promise<string | undefined> {
  const node = namehash(name);
  const resolver = await resolverOf(client, node);
  if (!resolver) return undefined;
  const record = (await client.readContract({ address: resolver, abi: ensAbi, functionName: 'text', args: [node, 'avatar'] })) as string;
  return showableAvatar(record);
}

/** `record` when it is an image the page may load by itself, else undefined. */
export function showableAvatar(record: string | undefined): string | undefined {
  if (!record) return undefined;
  if (/^data:image\/(png|jpeg|gif|webp|svg\+xml)[;,]/i.test(record)) return record;
  try {
    const url = new URL(record);
    return url.protocol === 'https:' ? url.href : undefined;
  } catch {
    return undefined;
  }
}

/** Name lookups at once, each a few calls to the wallet's RPC. */
export const NAME_LOOKUPS = 4;

/** How long a looked-up name (or the lack of one) is believed. */
export const NAME_TTL_MS = 5 * 60_000;

/**
 * The names of the addresses the page shows, looked up once each (again
 * after `NAME_TTL_MS`), and `changed` called when one arrives so the page
 * draws it. Lookups that fail are kept as "no name" until the TTL.
 */
export class Names {
  private readonly known = new Map<Address, { named?: Named; at: number }>();
  private readonly pending = new Set<Address>();
  /** Lookups waiting for a slot: a page of 50 strangers must not send the wallet 250 calls at once. */
  private readonly queue: Address[] = [];
  private running = 0;

  constructor(
    private readonly client: () => EnsReader | undefined,
    private readonly changed: () => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** The name of `address` if known and fresh; starts a lookup otherwise. */
  of(address: string): Named | undefined {
    const a = getAddress(address);
    const kept = this.known.get(a);
    if (!kept || this.now() - kept.at > NAME_TTL_MS) this.lookUp(a);
    return kept?.named;
  }

  private lookUp(address: Address) {
    if (!this.client() || this.pending.has(address)) return;
    this.pending.add(address);
    this.queue.push(address);
    this.next();
  }

  /** Starts queued lookups while fewer than `NAME_LOOKUPS` run. */
  private next() {
    const client = this.client();
    while (client && this.running < NAME_LOOKUPS && this.queue.length > 0) {
      const address = this.queue.shift()!;
      this.running++;
      void primaryName(client, address)
        .catch(() => undefined)
        .then((named) => {
          this.running--;
          this.pending.delete(address);
          const before = this.known.get(address)?.named;
          this.known.set(address, { named, at: this.now() });
          if (before?.name !== named?.name || before?.avatar !== named?.avatar) this.changed();
          this.next();
        });
    }
  }

  /**
   * The address a recipient field means: an address as typed, or an ENS
   * name resolved now (a name shown in the page is also looked up fresh,
   * never taken from the cache). Errors say what to fix.
   */
  async resolve(input: string): Promise<Address> {
    const typed = input.trim();
    if (isAddress(typed)) return getAddress(typed);
    if (!typed.includes('.')) throw new Error(`"${typed}" is neither an Ethereum address (0x…) nor an ENS name (name.eth).`);
    const client = this.client();
    if (!client) throw new Error('Connect a wallet to look up ENS names.');
    const name = normalName(typed);
    let address: Address | undefined;
    try {
      address = await addressOf(client, name);
    } catch {
      throw new Error(`Could not look up ${name}: this chain has no ENS registry, or the wallet's RPC did not answer.`);
    }
    if (!address) throw new Error(`${name} has no address on this chain.`);
    return address;
  }
}
