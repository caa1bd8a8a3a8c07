// The parts of the Cairn contract the browser uses (contracts/src/Cairn.sol).

import { parseAbi } from 'viem';

export const cairnAbi = parseAbi([
  'event Posted(address indexed from, bytes32 indexed to, bytes32 indexed digest, uint64 sequence)',
  'event BatchAnchored(address indexed relayer, bytes32 indexed root, bytes32 manifestDigest, uint32 count, uint64 batchId)',
  'function keyOf(address owner) view returns (bytes32 pubkey, uint64 version)',
  'function registerKey(bytes32 pubkey) returns (uint64 version)',
  'function registrationNonces(address owner) view returns (uint256)',
  'event MembersChanged(bytes32 indexed channel, uint64 indexed epoch, address[] added, address[] removed)',
  'event EpochKeyPublished(bytes32 indexed channel, uint64 indexed epoch, bytes32 bundleDigest)',
  'function channelOf(bytes32 channel) view returns ((address creator, uint64 epoch, uint32 members, uint32 admins, uint8 gate, address token, uint256 minBalance))',
  'function canPost(bytes32 channel, address account) view returns (bool)',
  'function balanceOf(address account) view returns (uint256)',
  'event ChannelCreated(bytes32 indexed channel, address indexed creator, string name, uint8 gate, address token, uint256 minBalance)',
  'function createChannel(string name, address[] admins, address[] members, uint8 gate, address token, uint256 minBalance) returns (bytes32)',
  'function changeMembers(bytes32 channel, address[] added, address[] removed) returns (uint64)',
  'function publishEpochKey(bytes32 channel, uint64 epoch, bytes32 bundleDigest)',
  'function epochBundle(bytes32 channel, uint64 epoch) view returns (bytes32)',
  'function newEpoch(bytes32 channel) returns (uint64)',
  'error KeyAlreadyPublished(uint64 epoch)',
  'event SignerAuthorized(address indexed owner, address indexed signer, uint64 expiry)',
  'event SignerRevoked(address indexed owner, address indexed signer)',
  'function signerExpiry(address owner, address signer) view returns (uint64)',
  'function signerNonces(address owner) view returns (uint256)',
  'function adminNonces(address admin) view returns (uint256)',
]);

/** The EIP-712 domain every Cairn signature uses. */
export const domain = (chainId: number, contract: `0x${string}`) =>
  ({ name: 'Cairn', version: '1', chainId, verifyingContract: contract }) as const;

export const postTypes = {
  Post: [
    { name: 'from', type: 'address' },
    { name: 'to', type: 'bytes32' },
    { name: 'digest', type: 'bytes32' },
    { name: 'nonce', type: 'uint64' },
    { name: 'deadline', type: 'uint64' },
  ],
} as const;

export const registerKeyTypes = {
  RegisterKey: [
    { name: 'owner', type: 'address' },
    { name: 'pubkey', type: 'bytes32' },
    { name: 'nonce', type: 'uint256' },
    { name: 'deadline', type: 'uint256' },
  ],
} as const;

/** What a user signs to allow (1) or block (2) a sender; checked by nodes and clients, never on chain. */
export const consentTypes = {
  Consent: [
    { name: 'owner', type: 'address' },
    { name: 'peer', type: 'address' },
    { name: 'state', type: 'uint8' },
    { name: 'issuedAt', type: 'uint64' },
  ],
} as const;

/** What a user signs to store a block on a node (`POST /v1/blobs`); checked by nodes only. */
export const uploadTypes = {
  Upload: [
    { name: 'from', type: 'address' },
    { name: 'digest', type: 'bytes32' },
    { name: 'deadline', type: 'uint64' },
  ],
} as const;

/** What a wallet signs to let a device key sign for it (docs/SIGNERS.md); a non-zero messagingKey is published too. */
export const authorizeSignerTypes = {
  AuthorizeSigner: [
    { name: 'owner', type: 'address' },
    { name: 'signer', type: 'address' },
    { name: 'expiry', type: 'uint64' },
    { name: 'messagingKey', type: 'bytes32' },
    { name: 'nonce', type: 'uint256' },
    { name: 'deadline', type: 'uint256' },
  ],
} as const;

/** What the wallet, or the device key itself, signs to revoke a device key. */
export const revokeSignerTypes = {
  RevokeSigner: [
    { name: 'owner', type: 'address' },
    { name: 'signer', type: 'address' },
    { name: 'nonce', type: 'uint256' },
    { name: 'deadline', type: 'uint256' },
  ],
} as const;

/**
 * What an admin, or its device key, signs for the gateway to send a channel
 * change (`POST /v1/channels/admin`, docs/SIGNERS.md).
 */
export const channelAdminTypes = {
  CreateChannel: [
    { name: 'creator', type: 'address' },
    { name: 'name', type: 'string' },
    { name: 'members', type: 'address[]' },
    { name: 'nonce', type: 'uint256' },
    { name: 'deadline', type: 'uint256' },
  ],
  ChangeMembers: [
    { name: 'channel', type: 'bytes32' },
    { name: 'added', type: 'address[]' },
    { name: 'removed', type: 'address[]' },
    { name: 'nonce', type: 'uint256' },
    { name: 'deadline', type: 'uint256' },
  ],
  NewEpoch: [
    { name: 'channel', type: 'bytes32' },
    { name: 'nonce', type: 'uint256' },
    { name: 'deadline', type: 'uint256' },
  ],
  PublishEpochKey: [
    { name: 'channel', type: 'bytes32' },
    { name: 'epoch', type: 'uint64' },
    { name: 'bundleDigest', type: 'bytes32' },
    { name: 'nonce', type: 'uint256' },
    { name: 'deadline', type: 'uint256' },
  ],
} as const;
