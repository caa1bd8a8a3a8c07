// Checks what the node says against the chain, through the wallet's own
// RPC: a message is shown as from its sender only when the chain says so.
// The same rules as the CLI's (src/verify.rs) and the indexer's batch check.

import { sha256 } from '@noble/hashes/sha2.js';
import {
  type Address,
  bytesToHex,
  concat,
  getAddress,
  type Hex,
  hashTypedData,
  keccak256,
  type PublicClient,
  recoverAddress,
} from 'viem';
import { cairnAbi, domain, postTypes } from './abi.js';

/** What the chain says of one message. */
export type Verdict =
  | { state: 'verified' }
  | { state: 'pending'; reason: string }
  | { state: 'forged'; reason: string };

/** A message as the node lists it (the fields the check needs; an `IndexedMessage` is one). */
export interface Claim {
  from: Address;
  to: Hex;
  digest: Hex;
  blockHash: Hex;
  logIndex: number;
  sequence: number;
  item: number | null;
}

export interface ChainView {
  client: PublicClient;
  contract: Address;
  chainId: number;
  /** Fetches the block with this sha2-256 digest, re-hashed; throws if it does not match. */
  fetchBlock: (digest: Hex) => Promise<Uint8Array>;
  /** Where the (sender, nonce) of batched posts already delivered are kept; none: no memory. */
  delivered?: DeliveredPosts;
}

/**
 * The first message id each batched (sender, nonce) was delivered as.
 * `anchorBatch` is open to anyone, so a public manifest's posts can be
 * anchored again until their deadline; a post is delivered once.
 */
export interface DeliveredPosts {
  /** Records `id` for (from, nonce) unless another id holds it; returns the id that does. */
  claim(from: Address, nonce: bigint, id: string): string;
}

/** A `DeliveredPosts` kept in `storage` (localStorage in the page) under `key`. */
export function deliveredIn(storage: Pick<Storage, 'getItem' | 'setItem'>, key: string): DeliveredPosts {
  return {
    claim(from, nonce, id) {
      const seen: Record<string, string> = JSON.parse(storage.getItem(key) ?? '{}');
      const pair = `${getAddress(from)}:${nonce}`;
      if (seen[pair] === undefined) {
        seen[pair] = id;
        storage.setItem(key, JSON.stringify(seen));
      }
      return seen[pair];
    },
  };
}

export async function verify(chain: ChainView, m: Claim): Promise<Verdict> {
  return m.item === null ? verifyDirect(chain, m) : verifyBatched(chain, m);
}

async function verifyDirect(chain: ChainView, m: Claim): Promise<Verdict> {
  const logs = await chain.client.getLogs({
    address: chain.contract,
    event: cairnAbi[0],
    args: { from: m.from, to: m.to, digest: m.digest },
    blockHash: m.blockHash,
  });
  const log = logs.find((l) => l.logIndex === m.logIndex);
  if (!log) return notOnChain(chain, m, 'no Posted log with this sender, recipient and digest');
  const canonical = await canonicalBlock(chain, m.blockHash, log.blockNumber);
  return 'problem' in canonical ? canonical.problem : { state: 'verified' };
}

/**
 * The block `hash` when it is the one the chain holds at `number` now. A
 * node (or an RPC) may still answer logs of a block that a reorg removed.
 */
async function canonicalBlock(chain: ChainView, hash: Hex, number: bigint | null): Promise<{ timestamp: bigint } | { problem: Verdict }> {
  if (number === null) return { problem: forged('the log names no block') };
  const block = await chain.client.getBlock({ blockNumber: number });
  if (block.hash !== hash) return { problem: forged("the block is not on this chain's canonical chain (reorged out)") };
  return { timestamp: block.timestamp };
}

/** A checked batch: its posts when the manifest matches the anchor, its block's time and place; else why not. */
type CheckedBatch = { posts: ManifestPost[]; hashes: Hex[]; blockTime: bigint; at: { block: bigint; logIndex: number } } | { problem: Verdict };

/**
 * Checked batches by anchor (block hash and log index). A page of mail from
 * one batch checks its manifest once (every signing hash, the root), not
 * once per message. Only the chain's answer is cached, never a failure to
 * reach it.
 */
const batches = new Map<string, Promise<CheckedBatch>>();

async function verifyBatched(chain: ChainView, m: Claim): Promise<Verdict> {
  const key = `${chain.contract}-${m.blockHash}-${m.logIndex}-${m.sequence}`;
  let checked = batches.get(key);
  if (!checked) {
    checked = checkBatch(chain, m);
    batches.set(key, checked);
    checked.then(
      (c) => 'problem' in c && c.problem.state === 'pending' && batches.delete(key),
      () => batches.delete(key),
    );
  }
  const batch = await checked;
  if ('problem' in batch) return batch.problem;
  const mine = batch.posts[m.item ?? -1];
  if (!mine) return forged('the batch has no such item');
  const p = mine.post;
  if (getAddress(p.from) !== getAddress(m.from) || p.to !== m.to || p.digest !== m.digest) {
    return forged('the batch holds another post at this place');
  }
  // Its own signature, checked when asked for: one bad post never hides the
  // others, and a page of mail does not recover a thousand signatures.
  const signer = await recoverAddress({ hash: batch.hashes[m.item!], signature: mine.signature }).catch(() => null);
  if (signer === null) return forged('the post is not signed by its sender');
  if (p.deadline < batch.blockTime) return forged('the post was anchored after its deadline');
  if (getAddress(signer) !== getAddress(p.from)) {
    // A device key (docs/SIGNERS.md): it must sign for `from` at the anchor.
    const refused = await signerRefuses(chain, getAddress(p.from), getAddress(signer), batch.at, batch.blockTime);
    if (refused) return forged(refused);
  }
  if (isChannel(p.to)) {
    const refused = await channelRefuses(chain, p.to, getAddress(p.from), { ...batch.at, hash: m.blockHash });
    if (refused) return forged(refused);
  }
  const id = `${m.blockHash}-${m.logIndex}-${m.item}`.toLowerCase();
  const first = chain.delivered?.claim(p.from, p.nonce, id) ?? id;
  if (first !== id) return forged(`a replay of a post already delivered as ${first}`);
  return { state: 'verified' };
}

async function checkBatch(chain: ChainView, m: Claim): Promise<CheckedBatch> {
  const logs = await chain.client.getLogs({
    address: chain.contract,
    event: cairnAbi[1],
    blockHash: m.blockHash,
  });
  const anchor = logs.find((l) => l.logIndex === m.logIndex && Number(l.args.batchId) === m.sequence);
  if (!anchor) return { problem: await notOnChain(chain, m, 'no BatchAnchored log for this batch') };
  const canonical = await canonicalBlock(chain, m.blockHash, anchor.blockNumber);
  if ('problem' in canonical) return canonical;
  const { manifestDigest, root, count } = anchor.args as { manifestDigest: Hex; root: Hex; count: number };
  const manifest = await chain.fetchBlock(manifestDigest);
  const posts = decodeManifest(manifest);
  if (posts.length !== count) return { problem: forged('the manifest does not hold the anchored count') };
  const d = domain(chain.chainId, chain.contract);
  const hashes = posts.map((p) => hashTypedData({ domain: d, types: postTypes, primaryType: 'Post', message: p.post }));
  if (merkleRoot(hashes) !== root) return { problem: forged('the manifest does not match the anchored root') };
  return { posts, hashes, blockTime: canonical.timestamp, at: { block: anchor.blockNumber!, logIndex: m.logIndex } };
}

/** One signer event of a (wallet, key) pair at its place: authorized until an expiry, or revoked. */
export interface SignerEvent {
  block: bigint;
  logIndex: number;
  expiry: bigint | null;
}

/**
 * Why `key` did not sign for `owner` at a place, or undefined when it did
 * (contracts/bindings/signers.rs, the same rule): an authorization before
 * the place, no revocation before it, and the latest expiry not before the
 * anchor block's time.
 */
export function signerRefusal(events: readonly SignerEvent[], at: { block: bigint; logIndex: number }, blockTime: bigint): string | undefined {
  const before = events
    .filter((e) => e.block < at.block || (e.block === at.block && e.logIndex < at.logIndex))
    .sort((a, b) => (a.block === b.block ? a.logIndex - b.logIndex : a.block < b.block ? -1 : 1));
  if (before.some((e) => e.expiry === null)) return 'signed by a device key revoked before the post was anchored';
  const last = before.at(-1);
  if (!last) return 'signed by a key never authorized to sign for its sender';
  return last.expiry! >= blockTime ? undefined : "signed by a device key whose authorization had expired";
}

/** The chain's signer events of (owner, key) up to `toBlock` (default: the head), through the wallet's RPC. */
async function signerEvents(chain: ChainView, owner: Address, key: Address, toBlock?: bigint): Promise<SignerEvent[]> {
  const query = { address: chain.contract, abi: cairnAbi, args: { owner, signer: key }, fromBlock: 0n, toBlock } as const;
  const [authorized, revoked] = await Promise.all([
    chain.client.getContractEvents({ ...query, eventName: 'SignerAuthorized' }),
    chain.client.getContractEvents({ ...query, eventName: 'SignerRevoked' }),
  ]);
  return [
    ...authorized.map((e) => ({ block: e.blockNumber!, logIndex: e.logIndex!, expiry: BigInt(e.args.expiry!) })),
    ...revoked.map((e) => ({ block: e.blockNumber!, logIndex: e.logIndex!, expiry: null })),
  ];
}

async function signerRefuses(chain: ChainView, owner: Address, key: Address, at: { block: bigint; logIndex: number }, blockTime: bigint): Promise<string | undefined> {
  return signerRefusal(await signerEvents(chain, owner, key, at.block), at, blockTime);
}

/**
 * How far a block's time and a device's clock may disagree (the node takes
 * consent entries up to as far ahead of its own clock).
 */
const CLOCK_SKEW = 300n;

/**
 * Whether device key `key` signed for `owner` at unix time `time` (a
 * consent entry's `issuedAt`): the same rule, over the events whose blocks
 * are not later than that time, give or take `CLOCK_SKEW`. A key revoked
 * later keeps what it signed before (an entry made in the last minutes
 * before the revocation is dropped, to be safe); a stolen key cannot sign
 * anything newer than its revocation.
 */
export async function signerSignedAt(chain: ChainView, owner: Address, key: Address, time: bigint): Promise<boolean> {
  const events = await signerEvents(chain, owner, key);
  const times = await Promise.all(events.map((e) => chain.client.getBlock({ blockNumber: e.block }).then((b) => b.timestamp)));
  const before = events.filter((_, i) => times[i] <= time + CLOCK_SKEW);
  return signerRefusal(before, { block: 2n ** 64n, logIndex: 0 }, time) === undefined;
}

/** A channel id, not a left-padded address: its top 12 bytes are not all zero. */
const isChannel = (to: Hex) => !/^0x0{24}/i.test(to);

/**
 * Why `from` could not post to `channel` by a batch anchored at `at`, as
 * the indexer rules, from the chain's own state and logs: a token-gated
 * channel takes direct posts only (the contract checks the balance), and
 * the sender must have been a member just before the anchor. A removed
 * member can still seal under an old epoch key and anchor it themselves.
 */
async function channelRefuses(chain: ChainView, channel: Hex, from: Address, at: { block: bigint; hash: Hex; logIndex: number }): Promise<string | undefined> {
  // By the anchor's block hash: after a reorg the same number is another history.
  const key = `${chain.contract}-${channel}-${at.hash}-${at.logIndex}`;
  let known = posters.get(key);
  if (!known) {
    known = channelPosters(chain, channel, at);
    posters.set(key, known);
    // Only the chain's answer is kept, never a failure to reach it.
    known.catch(() => posters.delete(key));
  }
  const found = await known;
  if (typeof found === 'string') return found;
  return found.has(from) ? undefined : `${from} was not a member of the channel when the batch was anchored`;
}

/** Who could post to a channel by a batch anchored at one place (by anchor), asked once: its members then, or why nobody. */
const posters = new Map<string, Promise<Set<Address> | string>>();

async function channelPosters(chain: ChainView, channel: Hex, at: { block: bigint; logIndex: number }): Promise<Set<Address> | string> {
  const state = await chain.client.readContract({ address: chain.contract, abi: cairnAbi, functionName: 'channelOf', args: [channel] });
  if (state.epoch === 0n) return 'no such channel on this chain';
  if (state.gate !== 0) return 'a token-gated channel takes direct posts only (the contract checks the balance)';
  const changes = await chain.client.getContractEvents({
    address: chain.contract,
    abi: cairnAbi,
    eventName: 'MembersChanged',
    args: { channel },
    fromBlock: 0n,
    toBlock: at.block,
  });
  return replayMembers(changes.filter((c) => c.blockNumber! < at.block || (c.blockNumber === at.block && c.logIndex! < at.logIndex)));
}

/** A channel's members after `changes` (its `MembersChanged` logs, in chain order). */
export function replayMembers(changes: readonly { args: { added?: readonly Address[]; removed?: readonly Address[] } }[]): Set<Address> {
  const members = new Set<Address>();
  for (const c of changes) {
    for (const r of c.args.removed ?? []) members.delete(getAddress(r));
    for (const a of c.args.added ?? []) members.add(getAddress(a));
  }
  return members;
}

/** Not found where the node said: a block not seen yet, or a lie. */
async function notOnChain(chain: ChainView, m: Claim, reason: string): Promise<Verdict> {
  const block = await chain.client.getBlock({ blockHash: m.blockHash }).catch(() => null);
  return block ? forged(reason) : { state: 'pending', reason: 'the node names a block the chain has not shown yet' };
}

const forged = (reason: string): Verdict => ({ state: 'forged', reason });

interface ManifestPost {
  post: { from: Address; to: Hex; digest: Hex; nonce: bigint; deadline: bigint };
  signature: Hex;
}

/** The batch manifest block (contracts/bindings/manifest.rs), strictly. */
export function decodeManifest(bytes: Uint8Array): ManifestPost[] {
  const magic = new TextEncoder().encode('CAIRNMF1');
  if (bytes.length < 12 || magic.some((b, i) => bytes[i] !== b)) throw new Error('not a batch manifest');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint32(8);
  if (bytes.length !== 12 + count * 165) throw new Error('manifest length disagrees with its count');
  const posts: ManifestPost[] = [];
  for (let i = 0; i < count; i++) {
    const at = 12 + i * 165;
    const hex = (from: number, to: number) => bytesToHex(bytes.subarray(at + from, at + to));
    posts.push({
      post: {
        from: getAddress(hex(0, 20)),
        to: hex(20, 52),
        digest: hex(52, 84),
        nonce: view.getBigUint64(at + 84),
        deadline: view.getBigUint64(at + 92),
      },
      signature: hex(100, 165),
    });
  }
  return posts;
}

/** The batch's Merkle root (contracts/bindings/merkle.rs): prefixed leaves and nodes, odd nodes carried up. */
export function merkleRoot(signingHashes: Hex[]): Hex {
  let level = signingHashes.map((h) => keccak256(concat(['0x00', h])));
  while (level.length > 1) {
    const next: Hex[] = [];
    for (let i = 0; i < level.length; i += 2) {
      next.push(i + 1 < level.length ? keccak256(concat(['0x01', level[i], level[i + 1]])) : level[i]);
    }
    level = next;
  }
  return level[0];
}

/** Re-hashes a block against the digest its CID names. */
export function checkBlock(bytes: Uint8Array, digest: Hex): Uint8Array {
  if (bytesToHex(sha256(bytes)) !== digest.toLowerCase()) throw new Error('the block does not match its digest: tampered');
  return bytes;
}

/** Checks that the post `id` sits at `index` of a `count`-leaf tree with `root` (merkle.rs `verify`). */
export function verifyPath(id: Hex, index: number, count: number, proof: Hex[], root: Hex): boolean {
  if (index >= count) return false;
  let hash = keccak256(concat(['0x00', id]));
  let [i, width, next] = [index, count, 0];
  while (width > 1) {
    if ((i ^ 1) < width) {
      const sibling = proof[next++];
      if (!sibling) return false;
      hash = keccak256(concat(['0x01', ...(i % 2 === 0 ? [hash, sibling] : [sibling, hash])]));
    }
    i = Math.floor(i / 2);
    width = Math.ceil(width / 2);
  }
  return next === proof.length && hash === root;
}

/** A gateway's inclusion proof, checked against the chain through the wallet. */
export async function verifyInclusion(
  chain: ChainView,
  proof: { id: Hex; root?: Hex; index?: number; count?: number; proof?: Hex[]; blockHash?: Hex },
): Promise<Verdict> {
  if (!proof.root || proof.index === undefined || !proof.count || !proof.blockHash) {
    return { state: 'pending', reason: 'not anchored yet' };
  }
  if (!verifyPath(proof.id, proof.index, proof.count, proof.proof ?? [], proof.root)) {
    return forged('the Merkle path does not lead to the root');
  }
  const logs = await chain.client.getLogs({
    address: chain.contract,
    event: cairnAbi[1],
    args: { root: proof.root },
    blockHash: proof.blockHash,
  });
  if (!logs.some((l) => l.args.count === proof.count)) return notOnChain(chain, { blockHash: proof.blockHash } as Claim, 'no BatchAnchored log with this root');
  return { state: 'verified' };
}
