// The chain checks' verdicts, with a stand-in for the wallet's RPC (the
// real chain is in the browser test): what a lying node cannot get past.

import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, concat, type Hex, hashTypedData, keccak256, numberToHex, type PublicClient } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { describe, expect, it } from 'vitest';
import { domain, postTypes } from '../src/index.js';
import { type ChainView, type Claim, type DeliveredPosts, deliveredIn, merkleRoot, type SignerEvent, signerRefusal, signerSignedAt, verify, verifyPath } from '../src/index.js';

const contract = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
const alice = privateKeyToAccount('0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d');
const blockHash = `0x${'ab'.repeat(32)}` as Hex;

/**
 * A stand-in RPC: `logs` sit at block 5 of whatever hash is asked; the
 * canonical block 5 is that hash, or another one once `reorged`, with
 * `timestamp`.
 */
function chain(
  logs: unknown[],
  blockExists = true,
  blocks: Record<string, Uint8Array> = {},
  {
    reorged = false,
    timestamp = 1_000n,
    delivered,
    channel,
    signers = [],
  }: { reorged?: boolean; timestamp?: bigint; delivered?: DeliveredPosts; channel?: { gate: number; changes: MembersChange[] }; signers?: SignerEvent[] } = {},
): ChainView {
  let asked = blockHash;
  const client = {
    getLogs: async ({ blockHash: hash }: { blockHash: Hex }) => {
      asked = hash;
      return logs.map((l) => ({ blockNumber: 5n, ...(l as object) }));
    },
    getBlock: async (query: { blockHash?: Hex; blockNumber?: bigint }) => {
      if (query.blockHash) {
        if (!blockExists) throw new Error('unknown block');
        return { hash: query.blockHash };
      }
      return { hash: reorged ? (`0x${'ee'.repeat(32)}` as Hex) : asked, timestamp };
    },
    readContract: async () => ({ epoch: channel ? 1n : 0n, gate: channel?.gate ?? 0 }),
    getContractEvents: async ({ toBlock, eventName }: { toBlock: bigint; eventName: string }) => {
      if (eventName === 'SignerAuthorized' || eventName === 'SignerRevoked') {
        return signers
          .filter((e) => e.block <= toBlock && (e.expiry === null) === (eventName === 'SignerRevoked'))
          .map((e) => ({ blockNumber: e.block, logIndex: e.logIndex, args: { expiry: e.expiry ?? undefined } }));
      }
      return (channel?.changes ?? []).filter((c) => c.blockNumber <= toBlock).map((c) => ({ ...c, args: { added: c.added, removed: c.removed } }));
    },
  } as unknown as PublicClient;
  return {
    client,
    contract,
    chainId: 31337,
    fetchBlock: async (digest) => {
      const block = blocks[digest];
      if (!block) throw new Error('no such block');
      return block;
    },
    delivered,
  };
}

const claim = (over: Partial<Claim> = {}): Claim => ({
  from: alice.address,
  to: `0x${'00'.repeat(12)}${'b0'.repeat(20)}`,
  digest: `0x${'11'.repeat(32)}`,
  blockHash,
  logIndex: 3,
  sequence: 0,
  item: null,
  ...over,
});

/** A `MembersChanged` log of the stand-in chain. */
interface MembersChange {
  blockNumber: bigint;
  logIndex: number;
  added: Hex[];
  removed: Hex[];
}

/** A one-post manifest signed by Alice, to `to`, and its anchor log. */
async function batch(signer = alice, to: Hex = claim().to) {
  const post = { from: alice.address, to, digest: claim().digest, nonce: 7n, deadline: 9_999_999_999n };
  const d = domain(31337, contract);
  const signature = await signer.signTypedData({ domain: d, types: postTypes, primaryType: 'Post', message: post });
  const record = concat([post.from, post.to, post.digest, numberToHex(post.nonce, { size: 8 }), numberToHex(post.deadline, { size: 8 }), signature]);
  const manifest = concat([bytesToHex(new TextEncoder().encode('CAIRNMF1')), numberToHex(1, { size: 4 }), record]);
  const bytes = new Uint8Array(Buffer.from(manifest.slice(2), 'hex'));
  const manifestDigest = bytesToHex(sha256(bytes));
  const root = merkleRoot([hashTypedData({ domain: d, types: postTypes, primaryType: 'Post', message: post })]);
  const log = { logIndex: 3, args: { manifestDigest, root, count: 1, batchId: 0n } };
  return { bytes, manifestDigest, log };
}

describe('verify', () => {
  it('a direct post is verified only by its own Posted log', async () => {
    expect(await verify(chain([{ logIndex: 3 }]), claim())).toEqual({ state: 'verified' });
    expect((await verify(chain([{ logIndex: 4 }]), claim())).state).toBe('forged');
    expect((await verify(chain([]), claim())).state).toBe('forged');
    expect((await verify(chain([], false), claim())).state).toBe('pending');
  });

  it('a batched post is verified by manifest, root and its signature', async () => {
    const { bytes, manifestDigest, log } = await batch();
    const view = () => chain([log], true, { [manifestDigest]: bytes });
    expect(await verify(view(), claim({ item: 0, blockHash: `0x${'01'.repeat(32)}` }))).toEqual({ state: 'verified' });
    // The node names another sender, digest or item for the same place.
    const bob = '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC';
    expect((await verify(view(), claim({ item: 0, from: bob, blockHash: `0x${'02'.repeat(32)}` }))).state).toBe('forged');
    expect((await verify(view(), claim({ item: 1, blockHash: `0x${'03'.repeat(32)}` }))).state).toBe('forged');
    // An anchor whose root the manifest does not produce.
    const wrongRoot = { ...log, args: { ...log.args, root: keccak256('0x01') } };
    const lying = chain([wrongRoot], true, { [manifestDigest]: bytes });
    expect(await verify(lying, claim({ item: 0, blockHash: `0x${'04'.repeat(32)}` }))).toMatchObject({ state: 'forged', reason: expect.stringMatching(/root/) });
  });

  it("a log of a block that a reorg removed is not the chain's word", async () => {
    expect(await verify(chain([{ logIndex: 3 }], true, {}, { reorged: true }), claim())).toMatchObject({ state: 'forged', reason: expect.stringMatching(/canonical/) });
    const { bytes, manifestDigest, log } = await batch();
    const view = chain([log], true, { [manifestDigest]: bytes }, { reorged: true });
    expect(await verify(view, claim({ item: 0, blockHash: `0x${'06'.repeat(32)}` }))).toMatchObject({ state: 'forged', reason: expect.stringMatching(/canonical/) });
  });

  it('a post signed by a device key holds only while the chain says the key signs for its sender', async () => {
    const device = privateKeyToAccount('0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a');
    const { bytes, manifestDigest, log } = await batch(device);
    const view = (signers: SignerEvent[]) => chain([log], true, { [manifestDigest]: bytes }, { signers });
    const at = (n: number) => claim({ item: 0, blockHash: `0x${(0xd0 + n).toString(16).repeat(32)}` as Hex });
    expect(await verify(view([{ block: 4n, logIndex: 0, expiry: 2_000n }]), at(0))).toEqual({ state: 'verified' });
    expect(await verify(view([]), at(1))).toMatchObject({ state: 'forged', reason: expect.stringMatching(/never authorized/) });
    expect(await verify(view([{ block: 4n, logIndex: 0, expiry: 2_000n }, { block: 4n, logIndex: 1, expiry: null }]), at(2))).toMatchObject({ state: 'forged', reason: expect.stringMatching(/revoked/) });
    expect(await verify(view([{ block: 4n, logIndex: 0, expiry: 999n }]), at(3))).toMatchObject({ state: 'forged', reason: expect.stringMatching(/expired/) });
  });

  it('the signer rule counts only what comes before the anchor, as the Rust one', () => {
    const auth = [{ block: 10n, logIndex: 1, expiry: 1_000n }];
    expect(signerRefusal(auth, { block: 11n, logIndex: 0 }, 999n)).toBeUndefined();
    expect(signerRefusal(auth, { block: 10n, logIndex: 2 }, 1_000n)).toBeUndefined();
    expect(signerRefusal(auth, { block: 10n, logIndex: 0 }, 1n)).toMatch(/never authorized/);
    const later = [...auth, { block: 11n, logIndex: 0, expiry: 5_000n }, { block: 12n, logIndex: 0, expiry: null }];
    expect(signerRefusal(later, { block: 11n, logIndex: 1 }, 4_000n)).toBeUndefined();
    expect(signerRefusal(later, { block: 12n, logIndex: 1 }, 10n)).toMatch(/revoked/);
  });

  it("a device key's consent entry counts at its time: after the authorization, before any revocation", async () => {
    // Blocks 10 and 20 at times 1,000 and 2,000: authorized in 10 until 5,000,
    // revoked in 20. Block times and clocks may differ by 300 s.
    const events = [
      { blockNumber: 10n, logIndex: 0, args: { expiry: 5_000n }, revoked: false },
      { blockNumber: 20n, logIndex: 0, args: {}, revoked: true },
    ];
    const client = {
      getContractEvents: async ({ eventName }: { eventName: string }) => events.filter((e) => e.revoked === (eventName === 'SignerRevoked')),
      getBlock: async ({ blockNumber }: { blockNumber: bigint }) => ({ timestamp: blockNumber * 100n }),
    } as unknown as PublicClient;
    const view: ChainView = { client, contract, chainId: 31337, fetchBlock: async () => new Uint8Array() };
    const key = '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC';
    expect(await signerSignedAt(view, alice.address, key, 699n)).toBe(false);
    expect(await signerSignedAt(view, alice.address, key, 900n)).toBe(true);
    expect(await signerSignedAt(view, alice.address, key, 1_500n)).toBe(true);
    expect(await signerSignedAt(view, alice.address, key, 1_700n)).toBe(false);
    expect(await signerSignedAt(view, alice.address, key, 2_000n)).toBe(false);
  });

  it('a post anchored after its deadline is refused', async () => {
    const { bytes, manifestDigest, log } = await batch();
    const late = chain([log], true, { [manifestDigest]: bytes }, { timestamp: 10_000_000_000n });
    expect(await verify(late, claim({ item: 0, blockHash: `0x${'07'.repeat(32)}` }))).toMatchObject({ state: 'forged', reason: expect.stringMatching(/deadline/) });
  });

  it('a batched (sender, nonce) is delivered once: a copy anchored again is a replay', async () => {
    const { bytes, manifestDigest, log } = await batch();
    const map = new Map<string, string>();
    const storage = { getItem: (k: string) => map.get(k) ?? null, setItem: (k: string, v: string) => void map.set(k, v) };
    const view = () => chain([log], true, { [manifestDigest]: bytes }, { delivered: deliveredIn(storage, 'delivered') });
    const original = claim({ item: 0, blockHash: `0x${'08'.repeat(32)}` });
    expect(await verify(view(), original)).toEqual({ state: 'verified' });
    expect(await verify(view(), original)).toEqual({ state: 'verified' });
    const copy = claim({ item: 0, blockHash: `0x${'09'.repeat(32)}` });
    expect(await verify(view(), copy)).toMatchObject({ state: 'forged', reason: expect.stringMatching(/replay/) });
    // Kept in the storage: a new page load remembers it.
    expect(JSON.parse(map.get('delivered')!)).toEqual({ [`${alice.address}:7`]: `0x${'08'.repeat(32)}-3-0` });
  });

  it('a batched channel post needs a member just before the anchor, of a members-only channel', async () => {
    const channel = `0x80${'c4'.repeat(31)}` as Hex;
    const { bytes, manifestDigest, log } = await batch(alice, channel);
    const added = (blockNumber: bigint, logIndex: number): MembersChange => ({ blockNumber, logIndex, added: [alice.address], removed: [] });
    const removed = (blockNumber: bigint, logIndex: number): MembersChange => ({ blockNumber, logIndex, added: [], removed: [alice.address] });
    const view = (gate: number, changes: MembersChange[]) => chain([log], true, { [manifestDigest]: bytes }, { channel: { gate, changes } });
    const post = (n: number) => claim({ to: channel, item: 0, blockHash: `0x${n.toString(16).padStart(2, '0').repeat(32)}` });
    // The anchor is log 3 of block 5.
    expect(await verify(view(0, [added(4n, 0)]), post(0x20))).toEqual({ state: 'verified' });
    expect(await verify(view(0, [added(5n, 1)]), post(0x21))).toEqual({ state: 'verified' });
    // Removed before the anchor: an old epoch key still seals, but the chain says no.
    expect(await verify(view(0, [added(2n, 0), removed(4n, 0)]), post(0x22))).toMatchObject({ state: 'forged', reason: expect.stringMatching(/not a member/) });
    // Added after the anchor, in the same block or later.
    expect(await verify(view(0, [added(5n, 4)]), post(0x23))).toMatchObject({ state: 'forged', reason: expect.stringMatching(/not a member/) });
    expect(await verify(view(0, []), post(0x24))).toMatchObject({ state: 'forged', reason: expect.stringMatching(/not a member/) });
    // A token-gated channel takes direct posts only: a batch could come from a non-holder.
    expect(await verify(view(1, [added(4n, 0)]), post(0x25))).toMatchObject({ state: 'forged', reason: expect.stringMatching(/token-gated/) });
  });

  it('a batch whose manifest the node withholds is never verified', async () => {
    const { log } = await batch();
    const withheld = chain([log], true, {});
    await expect(verify(withheld, claim({ item: 0, blockHash: `0x${'30'.repeat(32)}` }))).rejects.toThrow(/no such block/);
  });

  it('a post signed by someone else than its sender is forged', async () => {
    const mallory = privateKeyToAccount(`0x${'42'.repeat(32)}`);
    const { bytes, manifestDigest, log } = await batch(mallory);
    const view = chain([log], true, { [manifestDigest]: bytes });
    expect(await verify(view, claim({ item: 0, blockHash: `0x${'05'.repeat(32)}` }))).toMatchObject({ state: 'forged', reason: expect.stringMatching(/signed/) });
  });

  it('checks Merkle paths as the Rust tree builds them, odd nodes carried up', () => {
    const ids = Array.from({ length: 5 }, (_, i) => keccak256(numberToHex(i)));
    const root = merkleRoot(ids);
    const leaf = (h: Hex) => keccak256(concat(['0x00', h]));
    const node = (a: Hex, b: Hex) => keccak256(concat(['0x01', a, b]));
    // Leaf 4 of 5 has no sibling on the first two levels.
    const l = ids.map(leaf);
    const path = [node(node(l[0], l[1]), node(l[2], l[3]))];
    expect(verifyPath(ids[4], 4, 5, path, root)).toBe(true);
    expect(verifyPath(ids[4], 3, 5, path, root)).toBe(false);
    expect(verifyPath(ids[4], 4, 5, [...path, path[0]], root)).toBe(false);
  });
});
