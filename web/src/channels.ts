// Channels in the page: list the wallet's channels, read a channel's
// messages (each checked against the chain, then opened with the epoch key
// unwrapped here from the bundle the chain anchors), follow it live, and
// post to it through the gateway. What the node says is never trusted: the
// epoch, the bundle's digest and who may post are read from the chain
// through the wallet, and every block is re-hashed.

import { type Address, bytesToHex, decodeEventLog, getAddress, type Hex, hexToBytes, type PublicClient, type WalletClient, zeroAddress, zeroHash } from 'viem';
import {
  buildBundle,
  cairnAbi,
  type ChainView,
  channelAdminTypes,
  type ChannelRecord,
  digestOf,
  domain,
  type IndexedMessage,
  isWeakKey,
  type MessagingKey,
  type Node,
  openChannel,
  openPart,
  parseRoot,
  partFor,
  partHolds,
  peekChannel,
  replayMembers,
  sealChannel,
  signPost,
  type Stream,
  textBody,
  uploadTypes,
  verify,
} from '@cairn/client';
import { describe } from './errors';
import { deliver, keptPost } from './outbox';
import type { Indexed } from './search';

/** Channels whose rows in Chats show their last post and unread count; others show their members. */
export const SUMMARIZED = 30;
/** Posts read per channel for its row: an unread count above this shows as this many. */
export const RECENT = 20;

export interface ChannelPost {
  id: string;
  from: Address;
  block: number;
  verdict: 'verified' | 'pending' | 'forged';
  /** Present only when verified and decrypted (see `Shown.text`). */
  text?: string;
  /** When the sender says they wrote it (the sealed header's time), once decrypted. */
  sentAt?: Date;
  problem?: string;
  /** The listing, to check again while pending. */
  listed: IndexedMessage;
}

/** Chain order of channel posts (block, log index, item), for sorting oldest first. */
export function byPosition(a: ChannelPost, b: ChannelPost): number {
  return a.block - b.block || a.listed.logIndex - b.listed.logIndex || (a.listed.item ?? -1) - (b.listed.item ?? -1);
}

/** Why this wallet cannot post, in words, or nothing when it can. */
export type PostBlock = string | undefined;

/**
 * Why this page cannot post to a channel, or undefined when it can: the
 * chain's `canPost` for us, the channel's gate, and our balance of the gate
 * token (asked only when it matters). A token-gated channel takes direct
 * posts only (the contract checks the balance then), which this page, as
 * it posts through the gateway, does not send yet: it says so rather than
 * let the gateway refuse the post.
 */
export function postBlock(
  may: boolean,
  gate: { gate: number; token: Hex; minBalance: bigint },
  balance?: bigint,
): PostBlock {
  const kind = gate.gate === 1 ? 'ERC-20' : 'ERC-721';
  if (may && gate.gate === 0) return undefined;
  if (may) return `This channel is gated by the ${kind} token ${gate.token}: it takes posts paid from your wallet, which this page does not send yet. Post with \`cairn channel post\`.`;
  if (gate.gate === 0) return 'You are not a member of this channel, so you cannot post to it.';
  return `This channel takes posts from members holding at least ${gate.minBalance} of the ${kind} token ${gate.token}; you hold ${balance ?? 0n}.`;
}

/** Members the current epoch's key bundle leaves out, as an admin sees them. */
export interface LeftOut {
  /** No registered key, or one registered after the bundle was built. */
  unwrapped: Address[];
  /** A weak (low-order) key: nothing can be wrapped for it. */
  weak: Address[];
}

export class Channels {
  list: ChannelRecord[] = [];
  open?: {
    record: ChannelRecord;
    posts: ChannelPost[];
    blocked: PostBlock;
    epoch: bigint;
    leftOut?: LeftOut;
    /** Where the next older page starts, while there is one. */
    older?: string;
    /** Why a post on its way waits, while no gateway answers for it. */
    sending?: string;
  };
  /**
   * Each channel's newest posts (at most `RECENT`, newest first), as proven
   * and opened here, for its row in Chats: the last post and the unread
   * count. Refreshed by `summarize`.
   */
  readonly recent = new Map<string, ChannelPost[]>();
  /** Posts already checked for `recent`, by id: a refresh checks only what is new (or was pending). */
  private checked = new Map<string, ChannelPost>();
  /** Epoch keys by the bundle digest the chain anchors (one bundle per epoch). */
  private keys = new Map<string, Uint8Array>();
  /** Bundle digests by channel and epoch, once the chain has one. */
  private bundles = new Map<string, Hex>();
  private stream?: Stream;

  constructor(
    private readonly deps: {
      node: Node;
      client: () => PublicClient;
      signer: () => WalletClient;
      /** Signs EIP-712 data for the wallet: with its device key when there is one (no prompt). */
      signTyped: (params: Omit<Parameters<WalletClient['signTypedData']>[0], 'account'>) => Promise<Hex>;
      /** Whether channel changes go through the gateway, signed by this device's key (no prompt, no ETH). */
      gasless: () => boolean;
      chain: () => ChainView;
      address: () => Address;
      key: () => MessagingKey;
      /** Keeps a post the chain proved and the page opened, for search. */
      remember: (doc: Indexed) => void;
      /** Whether we blocked this wallet (consent): its channel posts are not shown either. */
      blocked: (from: Address) => boolean;
      changed: () => void;
    },
  ) {}

  async load() {
    this.list = await this.deps.node.channels(this.deps.address());
    this.deps.changed();
  }

  /**
   * Reads the newest posts of each channel (the first `SUMMARIZED`), each
   * checked on chain and opened as in the channel itself, for the rows of
   * Chats. Posts seen before are not checked again. The caller redraws.
   */
  async summarize() {
    const keep = new Map<string, ChannelPost>();
    for (const record of this.list.slice(0, SUMMARIZED)) {
      const page = await this.deps.node.channelPage(record.id, undefined, RECENT).catch(() => undefined);
      if (!page) continue;
      const recent: ChannelPost[] = [];
      for (const m of page.messages) {
        if (this.deps.blocked(m.from)) continue;
        let post = this.checked.get(m.id);
        if (!post || post.verdict === 'pending') post = await this.show(m);
        keep.set(m.id, post);
        recent.push(post);
      }
      this.recent.set(record.id, recent);
    }
    this.checked = keep;
  }

  /** Opens a channel: its messages, live updates, and whether we may post. */
  async select(record: ChannelRecord) {
    this.stream?.stop();
    const channel = record.id;
    const state = await this.state(channel);
    this.open = { record, posts: [], blocked: await this.whyNot(channel, state), epoch: state.epoch };
    if (record.admins.some((a) => a.toLowerCase() === this.deps.address().toLowerCase())) {
      this.open.leftOut = await this.leftOut(channel, state.epoch).catch(() => undefined);
    }
    await this.loadOlder();
    this.stream = this.deps.node.stream(
      { channel },
      null,
      async (event) => {
        if (!this.open || this.open.record.id !== channel) return;
        const posts = this.open.posts;
        const at = posts.findIndex((p) => p.id === event.message.id);
        if (event.type === 'retracted') {
          if (at >= 0) posts.splice(at, 1);
        } else if (at < 0 && !this.deps.blocked(event.message.from)) {
          posts.push(await this.show(event.message));
        }
        this.deps.changed();
      },
      () => {},
    );
  }

  /** The open channel's next older page (the newest first, when none is loaded). */
  async loadOlder() {
    const open = this.open;
    if (!open) return;
    const page = await this.deps.node.channelPage(open.record.id, open.older);
    const held = new Set(open.posts.map((p) => p.id));
    for (const m of page.messages) {
      if (!held.has(m.id) && !this.deps.blocked(m.from)) open.posts.push(await this.show(m));
    }
    open.older = page.more && page.next ? page.next : undefined;
    this.deps.changed();
  }

  close() {
    this.stream?.stop();
    this.open = undefined;
  }

  private async state(channel: Hex) {
    const c = await this.deps.client().readContract({
      address: this.deps.chain().contract,
      abi: cairnAbi,
      functionName: 'channelOf',
      args: [channel],
    });
    return c;
  }

  /** Why we may not post now, from the chain: not a member, or too little of the gate token. */
  private async whyNot(channel: Hex, state: Awaited<ReturnType<Channels['state']>>): Promise<PostBlock> {
    const client = this.deps.client();
    const me = this.deps.address();
    const may = await client.readContract({ address: this.deps.chain().contract, abi: cairnAbi, functionName: 'canPost', args: [channel, me] });
    const balance =
      may || state.gate === 0
        ? undefined
        : await client.readContract({ address: state.token, abi: cairnAbi, functionName: 'balanceOf', args: [me] }).catch(() => 0n);
    return postBlock(may, state, balance);
  }

  /** The digest of `epoch`'s key bundle, as the contract keeps it (it takes one per epoch). */
  private async bundleOf(channel: Hex, epoch: bigint): Promise<Hex | undefined> {
    const known = this.bundles.get(`${channel}/${epoch}`);
    if (known) return known;
    const digest = await this.deps.client().readContract({
      address: this.deps.chain().contract,
      abi: cairnAbi,
      functionName: 'epochBundle',
      args: [channel, epoch],
    });
    if (digest === zeroHash) return undefined;
    this.bundles.set(`${channel}/${epoch}`, digest);
    return digest;
  }

  /** The key of `epoch`, unwrapped from the bundle whose digest the chain anchors. */
  private async epochKey(channel: Hex, epoch: bigint): Promise<Uint8Array> {
    const digest = await this.bundleOf(channel, epoch);
    if (!digest) throw new Error(`No key has been published for epoch ${epoch} of this channel yet: an admin must rotate it.`);
    const cached = this.keys.get(digest);
    if (cached) return cached;
    const root = parseRoot(await this.deps.node.block(digest), hexToBytes(channel), epoch);
    const me = hexToBytes(this.deps.address());
    const part = partFor(root, me);
    if (!part) throw new Error('You are not a member in this epoch’s key bundle.');
    const key = openPart(await this.deps.node.block(bytesToHex(part)), hexToBytes(channel), epoch, me, this.deps.key().secret);
    this.keys.set(digest, key);
    return key;
  }

  /** The channel's members now, replayed from the chain's `MembersChanged` logs (never the node's list). */
  private async members(channel: Hex): Promise<Address[]> {
    const changes = await this.deps.client().getContractEvents({
      address: this.deps.chain().contract,
      abi: cairnAbi,
      eventName: 'MembersChanged',
      args: { channel },
      fromBlock: 0n,
    });
    return [...replayMembers(changes)];
  }

  /**
   * Who cannot read `epoch`: members with no wrap in its bundle (no key
   * when it was built, or added before they registered), and of those, who
   * registered a weak key. An admin rotates once they have a real key.
   */
  async leftOut(channel: Hex, epoch: bigint): Promise<LeftOut> {
    const members = await this.members(channel);
    const digest = await this.bundleOf(channel, epoch);
    const root = digest ? parseRoot(await this.deps.node.block(digest), hexToBytes(channel), epoch) : undefined;
    const parts = new Map<string, Uint8Array>();
    const out: LeftOut = { unwrapped: [], weak: [] };
    for (const m of members) {
      const part = root && partFor(root, hexToBytes(m));
      if (part) {
        const id = bytesToHex(part);
        if (!parts.has(id)) parts.set(id, await this.deps.node.block(id));
        if (partHolds(parts.get(id)!, hexToBytes(m))) continue;
      }
      const [pubkey, version] = await this.deps.client().readContract({ address: this.deps.chain().contract, abi: cairnAbi, functionName: 'keyOf', args: [m] });
      if (version !== 0n && isWeakKey(hexToBytes(pubkey))) out.weak.push(m);
      else out.unwrapped.push(m);
    }
    return out;
  }

  /** Publishes a fresh key for the open channel (admins), for members who registered since; then shows it again. */
  async rotateOpen() {
    const open = this.open!;
    await this.rotate(open.record.id);
    await this.untilIndexed((list) => list.some((r) => r.id === open.record.id));
    await this.select(this.list.find((r) => r.id === open.record.id) ?? open.record);
  }

  private async show(m: IndexedMessage): Promise<ChannelPost> {
    // EIP-55, as the mail's `Shown.from`: the node lists senders in lower case,
    // and "mine" and the unread count compare with the wallet's address.
    const post: ChannelPost = { id: m.id, from: getAddress(m.from), block: m.block, verdict: 'pending', listed: m };
    try {
      const verdict = await verify(this.deps.chain(), m);
      post.verdict = verdict.state;
      if (verdict.state === 'pending') post.problem = verdict.reason;
      if (verdict.state !== 'verified') return post;
      const bytes = await this.deps.node.block(m.digest);
      const { header, epoch } = peekChannel(bytes);
      if (bytesToHex(header.recipient) !== m.to.toLowerCase() || bytesToHex(header.sender) !== m.from.toLowerCase()) {
        post.verdict = 'forged';
        return post;
      }
      post.text = openChannel(bytes, await this.epochKey(m.to, epoch)).body.text;
      post.sentAt = new Date(Number(header.timestamp) * 1000);
      this.deps.remember({ id: m.id, from: m.from, text: post.text, at: post.sentAt.getTime(), channel: m.to });
    } catch (e) {
      post.problem = e instanceof Error ? e.message : String(e);
    }
    return post;
  }

  /** Checks the open channel's pending posts again; whether any changed. */
  async recheckPending(): Promise<boolean> {
    const open = this.open;
    if (!open) return false;
    let changed = false;
    for (const post of [...open.posts]) {
      if (post.verdict !== 'pending') continue;
      const again = await this.show(post.listed);
      if (again.verdict === 'pending') continue;
      const at = open.posts.findIndex((p) => p.id === again.id);
      if (at >= 0) open.posts[at] = again;
      changed = true;
    }
    return changed;
  }

  /** Creates a channel with us as admin and member, and publishes its first key; returns its id. */
  async create(name: string, members: Address[]): Promise<Hex> {
    const me = this.deps.address();
    const others = members.filter((m) => m !== me);
    if (this.deps.gasless()) {
      const { channel } = await this.relay('CreateChannel', { creator: me, name, members: others }, { action: 'create', admin: me, name, members: others });
      await this.rotate(channel);
      await this.untilIndexed((list) => list.some((r) => r.id.toLowerCase() === channel.toLowerCase()));
      return channel;
    }
    const receipt = await this.transact('createChannel', [name, [me], [me, ...others], 0, zeroAddress, 0n]);
    const created = receipt.logs
      .map((log) => {
        try {
          return decodeEventLog({ abi: cairnAbi, data: log.data, topics: log.topics, eventName: 'ChannelCreated' });
        } catch {
          return undefined;
        }
      })
      .find((e) => e !== undefined);
    if (!created) throw new Error('The transaction created no channel.');
    const channel = created.args.channel as Hex;
    await this.rotate(channel);
    await this.untilIndexed((list) => list.some((r) => r.id.toLowerCase() === channel.toLowerCase()));
    return channel;
  }

  /** Adds and removes members (admins only); the key rotates at once, so removed members cannot read what follows. */
  async changeMembers(added: Address[], removed: Address[]) {
    const open = this.open!;
    const channel = open.record.id;
    if (this.deps.gasless()) {
      const me = this.deps.address();
      await this.relay('ChangeMembers', { channel, added, removed }, { action: 'changeMembers', admin: me, channel, added, removed });
    } else {
      await this.transact('changeMembers', [channel, added, removed]);
    }
    await this.rotate(channel);
    const { epoch } = await this.state(channel);
    // The node catches up with the chain within a block or two.
    await this.untilIndexed((list) => list.some((r) => r.id === channel && BigInt(r.epoch) === epoch));
    await this.select(this.list.find((r) => r.id === channel) ?? open.record);
  }

  /**
   * Publishes a fresh key for the channel's current epoch: the members are
   * replayed from the chain's `MembersChanged` logs (never taken from the
   * node, which could slip in a reader), each wrapped for its registered
   * key, stored as signed uploads, and the root's digest anchored.
   */
  async rotate(channel: Hex) {
    const client = this.deps.client();
    const contract = this.deps.chain().contract;
    const keyed = [];
    for (const m of await this.members(channel)) {
      const [pubkey, version] = await client.readContract({ address: contract, abi: cairnAbi, functionName: 'keyOf', args: [m] });
      if (version !== 0n) keyed.push({ address: hexToBytes(m), key: hexToBytes(pubkey) });
    }
    // One bundle per epoch (a second would strand the epoch's earlier
    // posts): when this epoch has its key, rotating starts the next.
    let { epoch } = await this.state(channel);
    const me = this.deps.address();
    if (await this.bundleOf(channel, epoch)) {
      if (this.deps.gasless()) await this.relay('NewEpoch', { channel }, { action: 'newEpoch', admin: me, channel });
      else await this.transact('newEpoch', [channel]);
      ({ epoch } = await this.state(channel));
    }
    const epochKey = crypto.getRandomValues(new Uint8Array(32));
    const bundle = buildBundle(hexToBytes(channel), epoch, epochKey, keyed);
    for (const block of [...bundle.parts, bundle.root]) await this.store(block);
    const digest = bytesToHex(digestOf(bundle.root));
    if (this.deps.gasless()) {
      await this.relay('PublishEpochKey', { channel, epoch, bundleDigest: digest }, { action: 'publishEpochKey', admin: me, channel, epoch, bundleDigest: digest });
    } else {
      await this.transact('publishEpochKey', [channel, epoch, digest]);
    }
    this.keys.set(digest, epochKey);
  }

  /** Reloads the list until `ready` holds, for ten seconds at most. */
  private async untilIndexed(ready: (list: ChannelRecord[]) => boolean) {
    for (let i = 0; i < 20; i++) {
      await this.load();
      if (ready(this.list)) return;
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** Stores one block on the node, signed by the wallet (EIP-712 `Upload`). */
  private async store(block: Uint8Array) {
    const me = this.deps.address();
    const chain = this.deps.chain();
    const deadline = BigInt(Math.floor(Date.now() / 1000) + 600);
    const digest = bytesToHex(digestOf(block));
    const signature = await this.deps.signTyped({
      domain: domain(chain.chainId, chain.contract),
      types: uploadTypes,
      primaryType: 'Upload',
      message: { from: me, digest, deadline },
    });
    await this.deps.node.upload(block, me, deadline, signature);
  }

  /**
   * Has the gateway send a channel change signed by our device key (EIP-712
   * `primaryType` over `message` plus our nonce and a deadline), and waits
   * until the wallet's RPC has its block.
   */
  private async relay(primaryType: keyof typeof channelAdminTypes, message: Record<string, unknown>, body: Record<string, unknown>) {
    const me = this.deps.address();
    const chain = this.deps.chain();
    const nonce = await this.deps.client().readContract({ address: chain.contract, abi: cairnAbi, functionName: 'adminNonces', args: [me] });
    const deadline = BigInt(Math.floor(Date.now() / 1000) + 600);
    const signature = await this.deps.signTyped({
      domain: domain(chain.chainId, chain.contract),
      types: channelAdminTypes,
      primaryType,
      message: { ...message, nonce, deadline },
    } as Parameters<typeof this.deps.signTyped>[0]);
    const done = await this.deps.node.channelAdmin({ ...body, deadline, signature });
    await this.deps.client().waitForTransactionReceipt({ hash: done.tx });
    return done;
  }

  /** Sends a contract call from the wallet and waits for its receipt; a revert throws. */
  private async transact(
    functionName: 'createChannel' | 'changeMembers' | 'publishEpochKey' | 'newEpoch',
    args: readonly unknown[],
  ) {
    const me = this.deps.address();
    const hash = await this.deps.signer().writeContract({
      account: me,
      chain: null,
      address: this.deps.chain().contract,
      abi: cairnAbi,
      functionName,
      args,
    } as Parameters<WalletClient['writeContract']>[0]);
    const receipt = await this.deps.client().waitForTransactionReceipt({ hash });
    if (receipt.status !== 'success') throw new Error(`The ${functionName} transaction failed on chain.`);
    return receipt;
  }

  /** Seals `text` under the current epoch's key, signs the post, and hands it to the gateway. */
  async post(text: string) {
    const open = this.open!;
    const channel = open.record.id;
    const state = await this.state(channel);
    const blocked = await this.whyNot(channel, state);
    if (blocked) throw new Error(blocked);
    const me = this.deps.address();
    const envelope = sealChannel(
      { sender: hexToBytes(me), recipient: hexToBytes(channel), timestamp: BigInt(Math.floor(Date.now() / 1000)), replyTo: new Uint8Array(32) },
      state.epoch,
      await this.epochKey(channel, state.epoch),
      textBody(text),
    );
    const chain = this.deps.chain();
    const signed = await signPost(
      { signTypedData: (typed) => this.deps.signTyped(typed) },
      { chainId: chain.chainId, contract: chain.contract },
      { from: me, to: channel, envelope },
    );
    // A lost answer is asked about by the post's id, and the same signed post sent again: never a false failure, never twice.
    const waiting = (reason: unknown, pauseMs: number) => {
      open.sending = `${describe(reason)} Sending the same signed post again in ${Math.ceil(pauseMs / 1000)} s.`;
      this.deps.changed();
    };
    try {
      await deliver(this.deps.node, keptPost(signed.post), signed.id, waiting);
    } finally {
      open.sending = undefined;
    }
  }
}
