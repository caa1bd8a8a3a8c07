// The web client's state and flows: connect a wallet, derive the messaging
// key, register it, read (checked against the chain, decrypted here) and
// write (sealed here, signed by the wallet, batched by the gateway).

import {
  type Address,
  bytesToHex,
  createPublicClient,
  createWalletClient,
  custom,
  getAddress,
  type Hex,
  isAddress,
  type PublicClient,
  recoverTypedDataAddress,
  type WalletClient,
} from 'viem';
import { createSiweMessage } from 'viem/siwe';
import {
  type Attachment,
  authorizeSignerTypes,
  cairnAbi,
  type ChainView,
  type ConsentState,
  consentTypes,
  deliveredIn,
  type Device,
  DEVICE_DAYS,
  deviceId,
  domain,
  forgetDevice,
  type IndexedMessage,
  keyFromSignature,
  keyMessage,
  MAX_BLOCK,
  type MessagingKey,
  newDeviceKey,
  Node,
  NodeError,
  type NodeInfo,
  openKeystore,
  type PresenceFrame,
  type PresenceState,
  readMessage,
  sealDirect,
  signPost,
  recallDevice,
  registerKeyTypes,
  rememberDevice,
  revokeSignerTypes,
  signerSignedAt,
  type Stream,
  type Verdict,
  verifyInclusion,
} from '@cairn/client';
import { byPosition, type ChannelPost, Channels } from './channels';
import {
  enable as enableNotifications,
  notificationOf,
  type NotifySettings,
  saveSettings as saveNotifySettings,
  settings as notifySettings,
  show as showNotification,
  supported as notificationsSupported,
} from './notify';
import { deliver, type Kept, keptPost, Outbox, resumed } from './outbox';
import { History, historyKey, idbRecords, type Indexed, indexedDbStore, recordKey } from './search';
import { acceptsPresence, consentMemory, pinContract } from './trust';
import { type Conversation, conversations, type Line, thread } from './chats';
import { type Countable, ReadMarks } from './unread';
import { discoverWallets, hasCode, KNOWN_CHAINS, UNRECOGNIZED_CHAIN, type Wallet } from './wallet';
import { describe } from './errors';
import { short, useLabels, useNames } from './dom';
import { Names, type EnsReader } from './names';
import { Labels } from './labels';

/** A mailbox as the page holds it: its messages, where the next page starts, and whether a first page came (until then it is loading, not empty). */
interface Mailbox {
  messages: Shown[];
  next: string | null;
  more: boolean;
  loaded: boolean;
}

/** A mailbox before its first page. */
const emptyBox = (): Mailbox => ({ messages: [], next: null, more: false, loaded: false });

/** A message as the app shows it. */
export interface Shown {
  id: string;
  from: Address;
  to: Hex;
  block: number;
  status: IndexedMessage['status'];
  verdict: Verdict;
  /**
   * Present only when verified and decrypted. The envelope does not
   * authenticate its sender and a lying node writes both the listing and
   * the envelope, so until the chain proves the sender, nothing of the
   * message (text or sender) is shown.
   */
  text?: string;
  attachments: Attachment[];
  sentAt?: Date;
  problem?: string;
  /** The anchored digest: what a reply names. */
  digest: Hex;
  /**
   * The digest of the message this one answers, from the opened envelope
   * (inside its AAD, so the sender set it, not a node).
   */
  replyTo?: Hex;
  /** The listing it came from, to check again as blocks arrive while it is pending. */
  listed: IndexedMessage;
}

/** The message a draft answers: its digest, and who wrote what, for the quote above the draft. */
export interface Replying {
  digest: Hex;
  from: Address;
  text: string;
}

/** The read mark of the device's first look, for conversations it never opened. */
const DEVICE = 'device';
const chatMark = (peer: string) => `chat:${peer.toLowerCase()}`;
const channelMark = (id: string) => `channel:${id.toLowerCase()}`;
/** How often the rows of channels other than the open one are read again. */
const SUMMARY_MS = 30_000;

/** The wallet a direct message went to. */
export const recipientOf = (m: Pick<Shown, 'to'>) => getAddress(`0x${m.to.slice(26)}`);

/** `messages` by sender. */
function byPeer(messages: Shown[]): Map<string, Shown[]> {
  const groups = new Map<string, Shown[]>();
  for (const m of messages) {
    const theirs = groups.get(m.from);
    if (theirs) theirs.push(m);
    else groups.set(m.from, [m]);
  }
  return groups;
}

export type Box = 'inbox' | 'requests' | 'sent';
export type View = 'chats' | Box | 'compose' | 'search' | 'channels';

/** A proven, opened message in a conversation, with what the page shows of it. */
export type ChatLine = Line & { shown: Shown };

/** How long a typing indicator lasts without a new frame, and presence counts as online. */
const TYPING_MS = 6_000;
const ONLINE_MS = 90_000;

/**
 * A message on its way: what the outbox keeps across reloads (its text,
 * shown in the thread while it travels and sent again by Retry), plus what
 * only this page load has.
 */
export interface Outgoing extends Kept {
  file?: File | null;
  inclusion?: Verdict;
}

/** The wallet (its EIP-6963 id) whose device this browser remembers, connected again on the next visit. */
const REMEMBERED_WALLET = 'cairn-remembered-wallet';
/** Whether ENS avatars from other sites may be loaded, by this browser's choice. */
const PICTURES_KEY = 'cairn-ens-pictures';

export class App {
  readonly node = new Node();
  info?: NodeInfo;
  wallets: Wallet[] = [];
  wallet?: Wallet;
  address?: Address;
  chainId?: number;
  key?: MessagingKey;
  /** The key the registry holds for this wallet: undefined until read, null when none. */
  registered?: Hex | null;
  view: View = 'inbox';
  /** The latest live arrival, in words, for screen readers (an `aria-live` region outside the re-rendered page). */
  announcement = '';
  boxes: Record<Box, Mailbox> = { inbox: emptyBox(), requests: emptyBox(), sent: emptyBox() };
  /**
   * What this wallet said of other wallets (lowercase address → allow or
   * block), from entries whose signatures this page checked itself.
   */
  consent = new Map<string, ConsentState>();
  /** The latest presence of allowed wallets (lowercase address). */
  presence = new Map<string, { state: PresenceState; at: number }>();
  live = false;
  outgoing: Outgoing[] = [];
  /** The latest problem to tell the user about, in words. */
  notice?: string;
  busy = false;
  /** The address this node has a live sign-in (SIWE) session for, and until when. */
  session?: { address: Address; until: Date };
  /** Decrypted mail, searchable, kept encrypted in IndexedDB. */
  history?: History;
  results: Indexed[] = [];
  /** How long the last search took, in milliseconds. */
  searchMs?: number;
  private stream?: Stream;
  private lastTyping = 0;
  private client?: PublicClient;
  /** Stops following the wallet's blocks (for re-checking pending messages). */
  private unwatchBlocks?: () => void;
  private signer?: WalletClient;
  /**
   * This device's signer, once the wallet authorized it: it signs posts,
   * consent entries and sign-ins, so they ask the wallet nothing.
   */
  device?: Device;
  /** Whether to keep the device's keys in this browser (wrapped, in IndexedDB) for the next visit. */
  rememberDevice = false;
  /** Where the user last looked in each conversation, on this device. */
  private marks?: ReadMarks;
  /** Messages on their way, kept across reloads. */
  private outbox?: Outbox;
  /** The user's own names for wallets, kept sealed on this device. */
  labels?: Labels;
  /** The conversation open in Chats (the other party, EIP-55), if any. */
  chat?: string;

  /** The wallet's channels, and the one open. */
  readonly channels: Channels;

  private summaryTimer?: ReturnType<typeof setInterval>;

  /** ENS primary names of the addresses shown, read through the wallet's RPC. */
  readonly names = new Names(() => this.client as EnsReader | undefined, () => this.changed());

  constructor(private readonly changed: () => void) {
    useNames((a) => this.names.of(a), () => this.showPictures);
    this.node.onSessionLost = () => this.sessionEnded();
    this.channels = new Channels({
      node: this.node,
      client: () => this.client!,
      signer: () => this.signer!,
      signTyped: this.signTyped,
      gasless: () => !!this.device && !!this.info?.gateway,
      chain: () => this.chain(),
      address: () => this.address!,
      key: () => this.key!,
      blocked: (from) => this.consent.get(from.toLowerCase()) === 'block',
      remember: (doc) => this.remember(doc),
      changed: () => this.changed(),
    });
  }

  /** Addresses typed or ENS names, each resolved now through the wallet's RPC. */
  private recipients = (entries: string[]) => Promise.all(entries.map((e) => this.names.resolve(e)));

  /** Whether ENS avatars hosted on other sites are loaded (off until the user says so). */
  showPictures = globalThis.localStorage?.getItem(PICTURES_KEY) === 'on';

  setShowPictures(on: boolean) {
    this.showPictures = on;
    localStorage.setItem(PICTURES_KEY, on ? 'on' : 'off');
    this.changed();
  }

  /** Keeps a decrypted, proven message for search: sealed in IndexedDB, or in memory when that fails. */
  private remember(doc: Indexed) {
    return this.history?.add(doc).catch(() => this.history?.index.add(doc));
  }

  /** Opens a channel, a failure in words. */
  openChannel = (record: Parameters<Channels['select']>[0]) => this.act(() => this.channels.select(record));

  /** Creates a channel (we are its admin and a member) and publishes its first key. */
  createChannel = (name: string, members: string[]) =>
    this.act(async () => {
      await this.channels.create(name, await this.recipients(members));
    });

  /** Adds or removes members of the open channel (admins), rotating its key. */
  changeChannelMembers = (added: string[], removed: string[]) =>
    this.act(async () => {
      await this.channels.changeMembers(await this.recipients(added), await this.recipients(removed));
    });

  /** Publishes a fresh key for the open channel (admins), for members its bundle left out. */
  rotateChannelKey = () => this.act(() => this.channels.rotateOpen());

  /** Reloads the channel list, a failure in words. */
  loadChannels = () => this.act(() => this.channels.load());

  /** Posts to the open channel through the gateway. */
  postToChannel = (text: string) => this.act(() => this.channels.post(text));

  async start() {
    try {
      const info = await this.node.config();
      const pinned = pinContract(info, info.chainId, localStorage, location.search);
      if (pinned) {
        this.notice = pinned;
        return this.changed();
      }
      this.info = info;
    } catch (e) {
      this.notice = describe(e);
    }
    discoverWallets((wallets) => {
      this.wallets = wallets;
      // A remembered device: connect its wallet again without a click
      // (a wallet that already let this site in asks nothing).
      const remembered = wallets.find((w) => w.id === localStorage.getItem(REMEMBERED_WALLET));
      if (remembered && !this.wallet && !this.busy) void this.connect(remembered);
      this.changed();
    });
  }

  get wrongChain(): boolean {
    return !!this.info?.chainId && this.chainId !== undefined && this.chainId !== this.info.chainId;
  }

  private chain(): ChainView {
    if (!this.client || !this.info) throw new Error('no wallet connected');
    return {
      client: this.client,
      contract: this.info.contract,
      chainId: this.info.chainId ?? this.chainId ?? 0,
      fetchBlock: (digest) => this.node.block(digest),
      delivered: deliveredIn(localStorage, `cairn:delivered:${this.info.chainId ?? this.chainId ?? 0}:${this.info.contract.toLowerCase()}`),
    };
  }

  /** Runs a user action, turning its failure into a notice. */
  private async act(action: () => Promise<void>) {
    this.busy = true;
    this.notice = undefined;
    this.changed();
    try {
      await action();
    } catch (e) {
      this.notice = describe(e);
    } finally {
      this.busy = false;
      this.changed();
    }
  }

  connect = (wallet: Wallet) =>
    this.act(async () => {
      const provider = wallet.provider;
      const [account] = (await provider.request({ method: 'eth_requestAccounts' })) as Address[];
      // The contract pin is keyed by the chain the wallet itself is on.
      const chainId = Number(await provider.request({ method: 'eth_chainId' }));
      this.checkPin(chainId);
      this.wallet = wallet;
      this.client = createPublicClient({ transport: custom(provider) });
      this.unwatchBlocks?.();
      this.unwatchBlocks = this.client.watchBlockNumber({
        poll: true,
        pollingInterval: 2_000,
        onBlockNumber: () => void this.recheckPending().catch(() => {}),
        onError: () => {},
      });
      this.chainId = chainId;
      this.setAccount(getAddress(account));
      if (!this.wrongChain) {
        const device = await this.recallDevice().catch(() => undefined);
        if (device) {
          this.device = device;
          await this.unlocked(device.key);
        }
      }
      provider.on?.('accountsChanged', (accounts: Address[]) => {
        if (accounts[0]) this.setAccount(getAddress(accounts[0]));
        else this.disconnect();
        this.changed();
      });
      provider.on?.('chainChanged', (id: string) => {
        this.chainId = Number(id);
        try {
          this.checkPin(this.chainId);
        } catch (e) {
          this.disconnect();
          this.notice = describe(e);
        }
        this.changed();
      });
    });

  /**
   * Refuses (throws) when the node's contract is not the one this browser
   * pinned for the wallet's chain `chainId`. A wallet on another chain than
   * the node's pins nothing: the page asks it to switch first.
   */
  private checkPin(chainId: number) {
    const info = this.info!;
    if (info.chainId !== null && info.chainId !== chainId) return;
    const refusal = pinContract(info, chainId, localStorage, location.search);
    if (refusal) throw new Error(refusal);
  }

  private setAccount(address: Address) {
    if (this.address === address) return;
    this.stream?.stop();
    clearInterval(this.summaryTimer);
    this.channels.close();
    this.channels.list = [];
    this.channels.recent.clear();
    this.address = address;
    this.key = undefined;
    this.device = undefined;
    this.marks = undefined;
    this.outbox = undefined;
    this.labels = undefined;
    this.outgoing = [];
    this.history = undefined;
    this.results = [];
    this.registered = undefined;
    for (const box of ['inbox', 'requests', 'sent'] as const) this.boxes[box] = emptyBox();
    this.consent.clear();
    this.presence.clear();
    this.signer = createWalletClient({ account: address, transport: custom(this.wallet!.provider) });
  }

  /**
   * Signs EIP-712 data for our wallet: with the device key when the wallet
   * authorized one (no prompt), else with the wallet itself.
   */
  signTyped = (params: Omit<Parameters<WalletClient['signTypedData']>[0], 'account'>): Promise<Hex> =>
    this.device
      ? this.device.account.signTypedData(params as Parameters<Device['account']['signTypedData']>[0])
      : this.signer!.signTypedData({ ...params, account: this.address! } as Parameters<WalletClient['signTypedData']>[0]);

  private deviceRecords = () => idbRecords('cairn-devices');
  private deviceId = () => deviceId(this.chain().chainId, this.info!.contract, this.address!);

  /**
   * Makes this device's signer: one wallet signature authorizes it, and
   * publishes the messaging key too when none is registered, through the
   * gateway's registrar (no ETH needed). Without a registrar, or if the
   * user declines, messages keep asking the wallet.
   */
  private async makeDevice(key: MessagingKey) {
    if (!this.info?.gateway) return;
    const owner = this.address!;
    const { account, privateKey } = newDeviceKey();
    // A key kept only in this page's memory is gone with it: it signs for a day.
    const days = this.rememberDevice ? DEVICE_DAYS : 1;
    const expiry = BigInt(Math.floor(Date.now() / 1000) + days * 86_400);
    await this.readRegistration();
    const messagingKey = this.registered === null ? bytesToHex(key.public) : (`0x${'00'.repeat(32)}` as Hex);
    const nonce = await this.client!.readContract({ address: this.info.contract, abi: cairnAbi, functionName: 'signerNonces', args: [owner] });
    const deadline = BigInt(Math.floor(Date.now() / 1000) + 600);
    const message = { owner, signer: account.address, expiry, messagingKey, nonce, deadline };
    const signature = await this.signer!.signTypedData({
      account: owner,
      domain: domain(this.chain().chainId, this.info.contract),
      types: authorizeSignerTypes,
      primaryType: 'AuthorizeSigner',
      message,
    });
    await this.node.authorizeSigner({ ...message, signature });
    this.device = { account, key, expiry };
    if (this.rememberDevice) {
      await rememberDevice(this.deviceRecords(), this.deviceId(), privateKey, this.device);
      // The next visit connects this wallet by itself, and the device opens the mail.
      localStorage.setItem(REMEMBERED_WALLET, this.wallet!.id);
    }
  }

  /**
   * A device remembered in this browser, when the chain still lets it sign
   * for this wallet: then the page opens with no prompt at all. A revoked
   * or expired one is wiped.
   */
  private async recallDevice(): Promise<Device | undefined> {
    const records = this.deviceRecords();
    const id = this.deviceId();
    const device = await recallDevice(records, id);
    if (!device) return undefined;
    const expiry = await this.client!.readContract({
      address: this.info!.contract,
      abi: cairnAbi,
      functionName: 'signerExpiry',
      args: [this.address!, device.account.address],
    });
    if (expiry <= BigInt(Math.floor(Date.now() / 1000))) {
      await forgetDevice(records, id);
      return undefined;
    }
    return device;
  }

  /**
   * "Forget this device": the device key revokes itself on chain (no wallet
   * prompt), and its keys are wiped from this browser. Then the page signs
   * out and disconnects.
   */
  forgetThisDevice = () =>
    this.act(async () => {
      const device = this.device;
      if (device) {
        const owner = this.address!;
        const nonce = await this.client!.readContract({ address: this.info!.contract, abi: cairnAbi, functionName: 'signerNonces', args: [owner] });
        const deadline = BigInt(Math.floor(Date.now() / 1000) + 600);
        const message = { owner, signer: device.account.address, nonce, deadline };
        const signature = await device.account.signTypedData({
          domain: domain(this.chain().chainId, this.info!.contract),
          types: revokeSignerTypes,
          primaryType: 'RevokeSigner',
          message,
        });
        await this.node.revokeSigner({ ...message, signature });
      }
      await forgetDevice(this.deviceRecords(), this.deviceId());
      localStorage.removeItem(REMEMBERED_WALLET);
      if (this.session) await this.node.logout().catch(() => {});
      this.session = undefined;
      this.disconnect();
    });

  /** Signs out of this node, and forgets the wallet and its key in this page. */
  leave = () =>
    this.act(async () => {
      if (this.session) await this.node.logout().catch(() => {});
      this.session = undefined;
      // A remembered device stays, but the next visit waits for a click.
      localStorage.removeItem(REMEMBERED_WALLET);
      this.disconnect();
    });

  disconnect() {
    this.stream?.stop();
    this.wallet = this.address = this.key = this.registered = this.device = undefined;
  }

  /**
   * Signs in to this node with EIP-4361: the wallet signs a message naming
   * this site, its chain and a nonce from the node, which answers with a
   * short HttpOnly session cookie. Signing in again (after a session
   * expired) sorts the mail by consent afresh, and reopens the stream with
   * the session.
   */
  signIn = () =>
    this.act(async () => {
      await this.openSession();
      this.stream?.stop();
      for (const box of ['inbox', 'requests'] as const) this.boxes[box] = emptyBox();
      await this.loadConsent();
      await Promise.all([this.loadMore('inbox'), this.loadMore('requests')]);
      this.follow();
    });

  /** The EIP-4361 exchange itself. */
  private async openSession() {
    const address = this.address!;
    const { nonce } = await this.node.nonce();
    const message = createSiweMessage({
      domain: location.host,
      address,
      statement: 'Sign in to this Cairn node.',
      uri: location.origin,
      version: '1',
      chainId: this.chain().chainId,
      nonce,
      issuedAt: new Date(),
      expirationTime: new Date(Date.now() + 3600_000),
    });
    const signature = this.device ? await this.device.account.signMessage({ message }) : await this.signer!.signMessage({ account: address, message });
    const answer = await this.node.signIn(message, signature);
    this.session = { address: answer.address, until: new Date(Date.now() + answer.expiresInSecs * 1000) };
  }

  /** Whether this node knows us: then it narrows the inbox by our consent, and relays presence. */
  get signedIn(): boolean {
    return !!this.address && this.session?.address === this.address;
  }

  /** Whether the sign-in is still live; an expired one is said, not hidden. */
  async checkSession() {
    try {
      const s = await this.node.session();
      if (s.signedIn && s.address) {
        this.session = { address: getAddress(s.address), until: new Date(Date.now() + s.expiresInSecs * 1000) };
      } else {
        this.sessionEnded();
      }
    } catch {
      // The node is away for a moment; the stream says so. Ask again later.
    }
    this.changed();
  }

  /**
   * The node no longer knows our sign-in (it expired, or it was ended from
   * elsewhere): said once, as soon as a request or the stream learns it.
   */
  private sessionEnded() {
    if (!this.session) return;
    this.session = undefined;
    this.notice = 'Your sign-in has ended: sign in again.';
    this.changed();
  }

  /**
   * Asks the wallet to switch to the node's chain. A wallet that does not
   * know it (4902) is offered it, when it is one the page knows itself.
   */
  switchChain = () =>
    this.act(async () => {
      const id = this.info!.chainId!;
      const wallet = createWalletClient({ transport: custom(this.wallet!.provider) });
      try {
        await wallet.switchChain({ id });
      } catch (e) {
        if (!hasCode(e, UNRECOGNIZED_CHAIN)) throw e;
        const chain = KNOWN_CHAINS.find((c) => c.id === id);
        if (!chain) throw new Error(`Your wallet does not know chain ${id}. Add it in your wallet, with an RPC you trust, then switch to it.`);
        await wallet.addChain({ chain });
        // Adding a chain need not switch to it (EIP-3085).
        await wallet.switchChain({ id });
      }
      // Not every wallet says chainChanged at once: ask.
      this.chainId = await wallet.getChainId();
    });

  /** Asks the wallet to sign the key message, derives the key, then loads the mail. */
  unlock = () =>
    this.act(async () => {
      const address = this.address!;
      const signature = await this.signer!.signMessage({ account: address, message: keyMessage(address) });
      const key = await keyFromSignature(address, signature);
      await this.makeDevice(key).catch((e) => {
        this.notice = `This device has no signer, so each message asks your wallet: ${describe(e)}`;
      });
      await this.unlocked(key);
    });

  /** Uses the key in a CLI keystore file (`cairn key new`) instead of the wallet-derived one. */
  importKeystore = (file: File, passphrase: string) =>
    this.act(async () => {
      await this.unlocked(await openKeystore(await file.text(), passphrase));
    });

  /**
   * With the key in hand: the encrypted history, the registration, a
   * session (so the node applies our consent), the mail, the stream.
   * Declining the sign-in still shows the mail, unsorted.
   */
  private async unlocked(key: MessagingKey) {
    const address = this.address!;
    this.key = key;
    this.marks = new ReadMarks(localStorage, `cairn-read-${this.chain().chainId}-${this.info!.contract.toLowerCase()}-${address.toLowerCase()}`);
    this.history = new History(historyKey(key.secret, address), indexedDbStore(address));
    await this.history.load().catch(() => 0);
    this.outbox = new Outbox(recordKey(key.secret, address, 'outbox'), indexedDbStore(address, 'outbox'));
    const labels = new Labels(recordKey(key.secret, address, 'labels'), indexedDbStore(address, 'labels'));
    await labels.load().catch(() => {});
    this.labels = labels;
    useLabels((a) => this.labels?.get(a));
    await this.resumeOutbox();
    await this.readRegistration();
    await this.checkSession();
    if (!this.signedIn) {
      await this.openSession().catch((e) => {
        this.notice = `Not signed in, so requests are not kept apart from your inbox: ${describe(e)}`;
      });
    }
    if (this.signedIn) await this.loadConsent().catch((e) => (this.notice = describe(e)));
    else this.rememberConsent();
    await Promise.all([this.loadMore('inbox'), this.loadMore('requests'), this.loadMore('sent')]);
    await this.channels.load().catch((e) => (this.notice = describe(e)));
    this.follow();
    clearInterval(this.summaryTimer);
    void this.refreshChannels();
    this.summaryTimer = setInterval(() => void this.refreshChannels(), SUMMARY_MS);
  }

  /** Our consent list from the node, keeping only the entries this page finds signed by us. */
  private async loadConsent() {
    const { entries } = await this.node.consent();
    this.consent.clear();
    const newest = this.consentMemory();
    for (const entry of entries) {
      const typed = {
        domain: domain(this.chain().chainId, this.info!.contract),
        types: consentTypes,
        primaryType: 'Consent',
        message: {
          owner: getAddress(entry.owner),
          peer: getAddress(entry.peer),
          state: entry.state === 'allow' ? 1 : 2,
          issuedAt: BigInt(entry.issuedAt),
        },
      } as const;
      // The wallet's own signature (an account's, or a contract wallet's
      // by ERC-1271), or one of its device keys' at the entry's time.
      let signed = await this.client!.verifyTypedData({ ...typed, address: this.address!, signature: entry.signature }).catch(() => false);
      if (!signed) {
        const key = await recoverTypedDataAddress({ ...typed, signature: entry.signature }).catch(() => null);
        signed = !!key && (await signerSignedAt(this.chain(), this.address!, key, BigInt(entry.issuedAt)).catch(() => false));
      }
      if (signed && getAddress(entry.owner) === this.address) newest.keep(entry.peer, { state: entry.state, issuedAt: Number(entry.issuedAt) });
    }
    // What this browser saw signed stands, whatever the node left out or
    // served older: an entry is only ever replaced by a newer one.
    for (const [peer, said] of Object.entries(newest.all())) this.consent.set(peer, said.state);
  }

  /** Without a session: the consent entries this browser kept, so that blocked senders stay hidden. */
  private rememberConsent() {
    this.consent.clear();
    for (const [peer, said] of Object.entries(this.consentMemory().all())) this.consent.set(peer, said.state);
  }

  /** The newest consent entries this browser has seen, for this wallet, chain and contract. */
  private consentMemory() {
    return consentMemory(localStorage, `cairn-consent-${this.chain().chainId}-${this.info!.contract.toLowerCase()}-${this.address!.toLowerCase()}`);
  }

  /** Where a message from `from` belongs: ours and allowed senders' in the inbox, blocked nowhere. */
  folderOf(from: Address): 'inbox' | 'requests' | null {
    if (from === this.address) return 'inbox';
    const said = this.consent.get(from.toLowerCase());
    // The list is this page's own (checked signatures, kept in this
    // browser): a blocked sender stays hidden with or without a session,
    // even when the node pushes or lists it.
    if (said === 'block') return null;
    if (!this.signedIn) return 'inbox';
    return said === 'allow' ? 'inbox' : 'requests';
  }

  /** Names a wallet on this device (an empty label removes it). */
  setLabel = (address: string, label: string) => this.act(async () => this.labels?.set(address, label));

  /** Allows or blocks a sender, a failure in words. */
  setConsent = (peer: Address, state: ConsentState) => this.act(() => this.putConsent(peer, state));

  /** Signs a consent entry (with the device key when there is one), publishes it, and moves the mail it concerns. */
  private async putConsent(peer: Address, state: ConsentState) {
    const owner = this.address!;
    const issuedAt = Math.floor(Date.now() / 1000);
    const signature = await this.signTyped({
      domain: domain(this.chain().chainId, this.info!.contract),
      types: consentTypes,
      primaryType: 'Consent',
      message: { owner, peer, state: state === 'allow' ? 1 : 2, issuedAt: BigInt(issuedAt) },
    });
    await this.node.putConsent({ owner, peer, state, issuedAt, signature });
    this.consentMemory().keep(peer, { state, issuedAt });
    this.consent.set(peer.toLowerCase(), state);
    const theirs = (m: Shown) => m.from === peer;
    const moving = this.boxes.requests.messages.filter(theirs);
    this.boxes.requests.messages = this.boxes.requests.messages.filter((m) => !theirs(m));
    if (state === 'block') {
      this.boxes.inbox.messages = this.boxes.inbox.messages.filter((m) => !theirs(m));
      this.presence.delete(peer.toLowerCase());
    } else {
      this.boxes.inbox.messages.push(...moving);
      this.boxes.inbox.messages.sort((a, b) => a.block - b.block);
      this.stream?.presence(peer, 'online');
    }
  }

  /**
   * Writing to someone means allowing them: their answers come to the
   * inbox, on this node and any other. Signed by the device key, so it asks
   * nothing; without one, nothing is signed (the wallet would prompt).
   */
  private allowOnWrite(peer: Address) {
    if (!this.device || !this.signedIn || this.consent.get(peer.toLowerCase()) === 'allow') return;
    void this.putConsent(peer, 'allow')
      .catch((e) => (this.notice = `Could not allow ${short(peer)}: ${describe(e)}`))
      .finally(() => this.changed());
  }

  /** Tells `to` that we are typing to them, at most every few seconds; the node drops it unless they allowed us. */
  typing(to: string) {
    if (!isAddress(to) || Date.now() - this.lastTyping < TYPING_MS / 2) return;
    if (this.stream?.presence(getAddress(to), 'typing')) this.lastTyping = Date.now();
  }

  /** Allowed wallets typing to us now. */
  get typingNow(): Address[] {
    const now = Date.now();
    return [...this.presence]
      .filter(([, p]) => p.state === 'typing' && now - p.at < TYPING_MS)
      .map(([address]) => getAddress(address));
  }

  /** Whether an allowed wallet has said it is here lately. */
  isOnline(address: Address): boolean {
    const p = this.presence.get(address.toLowerCase());
    return !!p && p.state !== 'idle' && Date.now() - p.at < ONLINE_MS;
  }

  private onPresence(p: PresenceFrame) {
    // By our own list: a lying node could invent presence from anyone.
    if (!acceptsPresence(this.consent, p.from)) return;
    // Our clock, not the node's: a skewed node must not make indicators stick.
    this.presence.set(p.from.toLowerCase(), { state: p.state, at: Date.now() });
    this.changed();
    if (p.state === 'typing') setTimeout(this.changed, TYPING_MS);
  }

  /** Says we are here to the wallets we allowed (they see it only if they allowed us too). */
  private announce() {
    for (const [peer, state] of [...this.consent].slice(0, 15)) {
      if (state === 'allow') this.stream?.presence(getAddress(peer), 'online');
    }
  }

  private async readRegistration() {
    const [pubkey, version] = await this.client!.readContract({
      address: this.info!.contract,
      abi: cairnAbi,
      functionName: 'keyOf',
      args: [this.address!],
    });
    this.registered = version === 0n ? null : pubkey;
  }

  get keyIsRegistered(): boolean {
    return !!this.key && this.registered === bytesToHex(this.key.public);
  }

  /** Publishes the key: gasless through the node's gateway when it has one, else a transaction. */
  register = (gasless: boolean) =>
    this.act(async () => {
      const owner = this.address!;
      const pubkey = bytesToHex(this.key!.public);
      if (gasless) {
        const nonce = await this.client!.readContract({
          address: this.info!.contract,
          abi: cairnAbi,
          functionName: 'registrationNonces',
          args: [owner],
        });
        const deadline = BigInt(Math.floor(Date.now() / 1000) + 3600);
        const signature = await this.signer!.signTypedData({
          account: owner,
          domain: domain(this.chain().chainId, this.info!.contract),
          types: registerKeyTypes,
          primaryType: 'RegisterKey',
          message: { owner, pubkey, nonce, deadline },
        });
        await this.node.register(owner, pubkey, deadline, signature);
      } else {
        const hash = await this.signer!.writeContract({
          account: owner,
          chain: null,
          address: this.info!.contract,
          abi: cairnAbi,
          functionName: 'registerKey',
          args: [pubkey],
        });
        await this.client!.waitForTransactionReceipt({ hash });
      }
      await this.readRegistration();
    });

  /** The next page of a mailbox; a failure becomes a notice, as in `act`, without the busy state. */
  loadMore = async (box: Box) => {
    const state = this.boxes[box];
    // Without a session the node cannot sort: everything is in the inbox.
    if (box === 'requests' && !this.signedIn) return;
    try {
      const page =
        box === 'sent'
          ? await this.node.page('sent', this.address!, state.next ?? undefined)
          : await this.node.page('inbox', this.address!, state.next ?? undefined, 50, this.signedIn ? box : undefined);
      // Blocked senders are dropped here too, by this page's own list.
      const listed = box === 'sent' ? page.messages : page.messages.filter((m) => this.folderOf(getAddress(m.from)) !== null);
      // Pages come newest first, each older than the last; the box is kept oldest first.
      const shown = await Promise.all(listed.map((m) => this.show(m)));
      const held = new Set(state.messages.map((m) => m.id));
      state.messages.unshift(...shown.filter((m) => !held.has(m.id)).reverse());
      state.next = page.next;
      state.more = page.more;
    } catch (e) {
      this.notice = describe(e);
    }
    state.loaded = true;
    // The first pages on a new device: the history counts as read.
    if (box !== 'sent' && this.boxes.inbox.loaded && (this.boxes.requests.loaded || !this.signedIn)) {
      this.marks?.mark(DEVICE, this.received().map((m) => this.countable(m)), true);
    }
    this.changed();
  };

  /**
   * Live updates over the stream, from the newest message listed, each into
   * the inbox or the requests by our consent (the node pushes no blocked sender).
   */
  private follow() {
    const newest = (box: 'inbox' | 'requests') => this.boxes[box].messages.at(-1)?.block ?? 0;
    const since = { inbox: newest('inbox'), requests: newest('requests') };
    this.stream = this.node.stream(
      this.address!,
      null,
      async (event) => {
        const folder = this.folderOf(getAddress(event.message.from));
        if (!folder) return;
        const box = this.boxes[folder].messages;
        const at = box.findIndex((m) => m.id === event.message.id);
        if (event.type === 'retracted') {
          if (at >= 0) box[at].status = 'retracted';
        } else if (at >= 0) {
          box[at] = await this.show(event.message);
        } else if (event.message.block >= since[folder]) {
          const shown = await this.show(event.message);
          box.push(shown);
          if (shown.from !== this.address) {
            this.announcement = announcement(shown, folder);
            this.notifyOf(shown, folder);
          }
        }
        this.changed();
      },
      (live) => {
        this.live = live;
        if (live && this.signedIn) this.announce();
        this.changed();
      },
      (p) => this.onPresence(p),
    );
  }

  /** A message as the unread count sees it: proven, from someone else, not retracted. */
  private countable(m: Shown): Countable {
    return {
      position: { block: m.block, logIndex: m.listed.logIndex, item: m.listed.item ?? 0 },
      counts: m.verdict.state === 'verified' && m.from !== this.address && m.status !== 'retracted',
    };
  }

  /** What reached us: the inbox and the requests. */
  private received(): Shown[] {
    return [...this.boxes.inbox.messages, ...this.boxes.requests.messages];
  }

  /**
   * Messages of `messages` that came after the user last looked at their
   * sender's conversation (or mailbox) on this device. Marks are per
   * conversation, so reading a thread and reading the inbox agree.
   */
  private unreadOf(messages: Shown[]): number {
    const marks = this.marks;
    if (!marks) return 0;
    let total = 0;
    for (const [peer, theirs] of byPeer(messages)) {
      total += marks.unread(chatMark(peer), theirs.map((m) => this.countable(m)), DEVICE);
    }
    return total;
  }

  /** Unread messages in a mailbox. */
  unread(box: 'inbox' | 'requests'): number {
    return this.unreadOf(this.boxes[box].messages);
  }

  /** Whether `m`, in `folder`, is before the user's eyes: its mailbox or its conversation open, the page in sight. */
  private inSight(m: Shown, folder: 'inbox' | 'requests'): boolean {
    const open = this.view === folder || (this.view === 'chats' && this.chat === m.from);
    return open && document.visibilityState === 'visible';
  }

  /** What is before the user's eyes counts as read: a mailbox, a chat, or the open channel. */
  markRead() {
    if (!this.marks) return;
    const seen = (['inbox', 'requests'] as const).flatMap((f) => this.boxes[f].messages.filter((m) => this.inSight(m, f)));
    for (const [peer, theirs] of byPeer(seen)) this.marks.mark(chatMark(peer), theirs.map((m) => this.countable(m)));
    const open = this.channels.open;
    if (open && this.view === 'channels' && document.visibilityState === 'visible') {
      this.marks.mark(channelMark(open.record.id), open.posts.map((p) => this.countablePost(p)));
    }
  }

  /** A channel post as the unread count sees it: proven and opened, by someone else. */
  private countablePost(p: ChannelPost): Countable {
    return {
      position: { block: p.block, logIndex: p.listed.logIndex, item: p.listed.item ?? 0 },
      counts: p.verdict === 'verified' && p.text !== undefined && p.from !== this.address,
    };
  }

  /**
   * A channel's row in Chats: its newest proven post, and how many proven
   * posts of others came after the user last looked at it on this device
   * (at most `RECENT`). Undefined for a channel past `SUMMARIZED`.
   */
  channelSummary(id: string): { last?: ChannelPost; unread: number } | undefined {
    const open = this.channels.open;
    const posts = open?.record.id === id ? open.posts : this.channels.recent.get(id);
    if (!posts) return undefined;
    const proven = posts.filter((p) => p.verdict === 'verified' && p.text !== undefined);
    const last = proven.sort(byPosition).at(-1);
    const unread = this.marks?.unread(channelMark(id), posts.map((p) => this.countablePost(p)), DEVICE) ?? 0;
    return { last, unread };
  }

  /**
   * Reads the rows of the channels again. A channel this device sees for
   * the first time counts its history as read, as the mail does.
   */
  private async refreshChannels() {
    await this.channels.summarize().catch(() => {});
    for (const [id, posts] of this.channels.recent) {
      this.marks?.mark(channelMark(id), posts.map((p) => this.countablePost(p)), true);
    }
    this.changed();
  }

  /** Unread channel posts, over every summarized channel. */
  channelUnread(): number {
    return this.channels.list.reduce((n, c) => n + (this.channelSummary(c.id)?.unread ?? 0), 0);
  }

  /** Every proven, opened message, as a line of its conversation. */
  private lines(): ChatLine[] {
    const line = (m: Shown, peer: string, mine: boolean): ChatLine => ({
      id: m.id,
      peer,
      mine,
      position: this.countable(m).position,
      text: m.text!,
      sentAt: m.sentAt,
      shown: m,
    });
    const readable = (m: Shown) => m.verdict.state === 'verified' && m.text !== undefined && m.status !== 'retracted';
    const sent = this.boxes.sent.messages.filter(readable).map((m) => line(m, recipientOf(m), true));
    // A request from someone this wallet wrote to is an answer: it belongs
    // in that conversation, whatever the node's folders say.
    const wroteTo = new Set(sent.map((l) => l.peer));
    const requests = this.boxes.requests.messages.filter((m) => readable(m) && wroteTo.has(m.from));
    const all = [
      ...this.boxes.inbox.messages.filter(readable).map((m) => line(m, m.from, m.from === this.address)),
      ...requests.map((m) => line(m, m.from, false)),
      ...sent,
    ];
    // Each once: a message listed in two boxes is one line.
    const seen = new Set<string>();
    return all.filter((l) => !seen.has(l.id) && seen.add(l.id));
  }

  /** The conversation list: one row per other party, the latest first. */
  conversations(): Conversation<ChatLine>[] {
    const lines = this.lines();
    const received = byPeer(lines.filter((l) => !l.mine).map((l) => l.shown));
    return conversations(lines, (peer) => this.unreadOf(received.get(peer) ?? []));
  }

  /** Whether older messages than the loaded ones exist in a box a conversation draws on. */
  get olderMessages(): boolean {
    return this.boxes.inbox.more || this.boxes.sent.more || this.boxes.requests.more;
  }

  /** Loads the next older page of every box a conversation draws on. */
  loadOlder = () =>
    Promise.all((['inbox', 'requests', 'sent'] as const).filter((b) => this.boxes[b].more).map((b) => this.loadMore(b)));

  /** The other party of the conversation a message is in, if this page holds it as proven. */
  peerOf(id: string): string | undefined {
    return this.lines().find((l) => l.id === id)?.peer;
  }

  /** The open conversation, oldest first. */
  thread(peer: string): ChatLine[] {
    return thread(this.lines(), peer);
  }

  /** Checks one listed message against the chain, then opens it. */
  async show(m: IndexedMessage): Promise<Shown> {
    const shown: Shown = {
      id: m.id,
      from: getAddress(m.from),
      to: m.to,
      block: m.block,
      status: m.status,
      verdict: { state: 'pending', reason: 'checking' },
      attachments: [],
      digest: m.digest,
      listed: m,
    };
    let chain: ChainView;
    try {
      chain = this.chain();
    } catch (e) {
      shown.verdict = { state: 'pending', reason: `cannot check the chain now: ${describe(e)}` };
      return shown;
    }
    // Only what the chain proved is opened (the package's rule, shared with
    // every other client): a pending message keeps its text (and the page
    // its claimed sender) hidden until a re-check.
    const read = await readMessage(chain, m, this.key!.secret);
    shown.verdict = read.verdict;
    shown.problem = read.problem;
    if (read.text === undefined) return shown;
    shown.text = read.text;
    shown.attachments = read.attachments ?? [];
    shown.sentAt = read.sentAt;
    shown.replyTo = read.replyTo;
    await this.remember({ id: m.id, from: shown.from, text: read.text, at: read.sentAt!.getTime() });
    return shown;
  }

  /**
   * Checks pending messages again (a block the node named may have reached
   * the wallet's RPC since), and shows those that now verify. Called on
   * every new block the wallet's RPC reports.
   */
  async recheckPending() {
    let changed = false;
    for (const box of ['inbox', 'requests', 'sent'] as const) {
      const messages = this.boxes[box].messages;
      for (let i = 0; i < messages.length; i++) {
        if (messages[i].verdict.state !== 'pending') continue;
        const again = await this.show(messages[i].listed);
        if (again.verdict.state === 'pending') continue;
        // The list may have changed while the chain was asked.
        const at = this.boxes[box].messages.findIndex((m) => m.id === again.id);
        if (at >= 0) this.boxes[box].messages[at] = again;
        changed = true;
      }
    }
    changed = (await this.channels.recheckPending()) || changed;
    if (changed) this.changed();
  }

  /** Searches the decrypted history, here in the page. */
  search(query: string) {
    const started = performance.now();
    this.results = this.history?.index.search(query) ?? [];
    this.searchMs = performance.now() - started;
  }

  /**
   * The proven, opened message with this digest among those this page
   * holds, for the quote above a reply; undefined when it has none.
   */
  quoted(digest: Hex): Shown | undefined {
    for (const box of ['inbox', 'requests', 'sent'] as const) {
      const found = this.boxes[box].messages.find((m) => m.digest === digest && m.verdict.state === 'verified' && m.text !== undefined);
      if (found) return found;
    }
    return undefined;
  }

  /**
   * Seals, signs and hands a message to the gateway, then follows it to
   * confirmation. With `replying`, the envelope names the answered message.
   */
  send = (to: string, text: string, file: File | null, replying?: Replying) =>
    this.act(async () => {
      const recipient = await this.names.resolve(to);
      const outgoing: Outgoing = { local: crypto.randomUUID(), at: Date.now(), to: recipient, text, replying, file, state: 'sealing' };
      this.outgoing.unshift(outgoing);
      this.keep(outgoing);
      try {
        const [pubkey, version] = await this.client!.readContract({
          address: this.info!.contract,
          abi: cairnAbi,
          functionName: 'keyOf',
          args: [recipient],
        });
        if (version === 0n) throw new Error(`${recipient} has no registered Cairn key yet: they must register before you can write to them.`);
        const attachments = file ? [{ name: file.name, data: new Uint8Array(await file.arrayBuffer()) }] : [];
        if (attachments.some((a) => a.data.length > MAX_BLOCK)) throw new Error('The attachment is larger than a block (1 MiB).');
        const { envelope, digest } = sealDirect({
          from: this.address!,
          to: recipient,
          recipientKey: pubkey,
          senderKey: this.key!,
          text,
          attachments,
          replyTo: replying?.digest,
        });
        outgoing.digest = digest;
        outgoing.state = 'signing';
        this.keep(outgoing);
        this.changed();
        const signed = await signPost(
          { signTypedData: (typed) => this.signTyped(typed) },
          { chainId: this.chain().chainId, contract: this.info!.contract },
          { from: this.address!, to: recipient, envelope },
        );
        // The id is known before anything is sent: a lost answer is asked about, not guessed.
        outgoing.id = signed.id;
        outgoing.post = keptPost(signed.post);
        outgoing.state = 'sending';
        this.keep(outgoing);
        this.changed();
        this.allowOnWrite(recipient);
        void this.deliverOutgoing(outgoing);
      } catch (e) {
        outgoing.state = 'failed';
        outgoing.detail = describe(e);
        this.keep(outgoing);
        throw e;
      }
    });

  /**
   * Hands a signed message to the gateway, the same signed post again and
   * again while no answer comes, then follows it. It fails only when the
   * gateway refused it or its deadline passed: never on a lost answer.
   */
  private async deliverOutgoing(outgoing: Outgoing) {
    const waiting = (reason: unknown, pauseMs: number) => {
      outgoing.detail = `${describe(reason)} Sending the same signed message again in ${Math.ceil(pauseMs / 1000)} s.`;
      this.changed();
    };
    try {
      await deliver(this.node, outgoing.post!, outgoing.id!, waiting);
    } catch (e) {
      outgoing.state = 'failed';
      outgoing.detail = describe(e);
      this.keep(outgoing);
      return this.changed();
    }
    outgoing.state = 'accepted';
    outgoing.detail = undefined;
    // Held by the gateway: the envelope need not be kept any longer.
    outgoing.post = undefined;
    this.keep(outgoing);
    this.changed();
    void this.track(outgoing);
  }

  /** Writes a failed message again, as it was written: a new post, since the failed one was refused or expired and will never be anchored. */
  retry = (failed: Outgoing) => {
    this.discard(failed);
    return this.send(failed.to, failed.text, failed.file ?? null, failed.replying);
  };

  /** Notifications: off until the user turns them on here. */
  notifications: NotifySettings = notifySettings();

  /** Turns notifications on: the browser asks for permission now, because the user clicked for it. */
  turnOnNotifications = () =>
    this.act(async () => {
      const permission = await enableNotifications();
      if (permission !== 'granted') {
        throw new Error(
          permission === 'denied'
            ? 'Notifications are blocked for this site in your browser settings.'
            : 'Notifications were not allowed.',
        );
      }
      this.setNotifications({ ...this.notifications, on: true });
    });

  setNotifications(value: NotifySettings) {
    this.notifications = value;
    saveNotifySettings(value);
    this.changed();
  }

  /**
   * Notifies of a live arrival the user is not looking at: the page is
   * hidden, or shows something else. Only a proven sender is named; an
   * unproven message shows nothing and notifies of nothing.
   */
  private notifyOf(m: Shown, folder: 'inbox' | 'requests') {
    if (!this.notifications.on || !notificationsSupported() || Notification.permission !== 'granted') return;
    if (m.verdict.state !== 'verified' || m.text === undefined) return;
    if (this.inSight(m, folder)) return;
    void showNotification(notificationOf(m.from, m.text, folder, this.notifications.showText), m.from).catch(() => {});
  }

  /** Drops a failed message from the outbox, unsent. */
  discard = (failed: Outgoing) => {
    this.outgoing = this.outgoing.filter((o) => o !== failed);
    void this.outbox?.forget(failed.local).catch(() => {});
    this.changed();
  };

  /**
   * Keeps a message's state in the outbox, without its attachment. A
   * failure to write is not the send's failure: the message is on its way.
   */
  private keep(o: Outgoing) {
    const { file: _file, inclusion: _inclusion, ...kept } = o;
    void this.outbox?.save(kept).catch(() => {});
  }

  /** The outbox of an earlier page load: each message shown with its state, followed again when the gateway has it. */
  private async resumeOutbox() {
    const kept = (await this.outbox!.load().catch(() => [] as Kept[])).map(resumed);
    const fresh = new Set(this.outgoing.map((o) => o.local));
    for (const k of kept.filter((k) => !fresh.has(k.local))) {
      const o: Outgoing = k;
      this.outgoing.push(o);
      this.keep(o);
      if (o.state === 'sending') void this.deliverOutgoing(o);
      if (o.state === 'accepted' || o.state === 'anchored') void this.track(o);
    }
  }

  /** Follows a post from accepted to anchored (the gateway's proof) to confirmed (the indexer). */
  private async track(outgoing: Outgoing) {
    for (let i = 0; i < 600 && outgoing.state !== 'confirmed'; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      try {
        if (outgoing.state === 'accepted') {
          const proof = await this.node.proof(outgoing.id!);
          if (proof.status === 'anchored') {
            outgoing.state = 'anchored';
            this.keep(outgoing);
          }
          if (proof.status === 'expired') {
            outgoing.state = 'failed';
            outgoing.detail = 'The post expired before it was anchored.';
            this.keep(outgoing);
            return this.changed();
          }
        } else {
          const page = await this.node.page('sent', this.address!, undefined, 200);
          const mine = page.messages.find((m) => m.digest === outgoing.digest && m.status === 'confirmed');
          if (mine) {
            outgoing.state = 'confirmed';
            this.keep(outgoing);
            if (!this.boxes.sent.messages.some((m) => m.id === mine.id)) this.boxes.sent.messages.push(await this.show(mine));
          }
        }
      } catch {
        // The node or gateway is away for a moment: ask again.
      }
      this.changed();
    }
  }

  /** Checks a sent post's inclusion proof against the chain, in the browser. */
  checkInclusion = (outgoing: Outgoing) =>
    this.act(async () => {
      const proof = (await this.node.proof(outgoing.id!)) as unknown as Parameters<typeof verifyInclusion>[1];
      outgoing.inclusion = await verifyInclusion(this.chain(), { ...proof, id: outgoing.id! });
    });
}

/**
 * How a live arrival is announced: its sender only once the chain proved
 * it (a node could name anyone), and never its text.
 */
export function announcement(m: Pick<Shown, 'from' | 'verdict'>, folder: 'inbox' | 'requests'): string {
  const where = folder === 'inbox' ? 'your inbox' : 'your requests';
  return m.verdict.state === 'verified' ? `New message in ${where} from ${short(m.from)}.` : `New message in ${where}, not verified yet.`;
}
