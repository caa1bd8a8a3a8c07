// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @title Cairn: anchors end-to-end encrypted messages and publishes messaging keys.
/// @notice The contract never sees plaintext. A message is an encrypted envelope
/// stored off-chain as an IPFS raw block; the chain holds only its sha2-256
/// digest, from which the block's CID can be rebuilt.
/// @dev Every state change emits an event, so an indexer can rebuild all state
/// from logs alone and never needs to read storage slots. EIP-712 domain:
/// name "Cairn", version "1", this chain, this contract (docs/BATCHING.md).
contract Cairn is EIP712 {
    /// @notice EIP-712 type of a post signed for batching. A relayer may carry
    /// it, but only the sender's signature makes it valid.
    bytes32 public constant POST_TYPEHASH =
        keccak256("Post(address from,bytes32 to,bytes32 digest,uint64 nonce,uint64 deadline)");

    /// @notice EIP-712 type of a key registration a relayer submits for a user.
    bytes32 public constant REGISTER_KEY_TYPEHASH =
        keccak256("RegisterKey(address owner,bytes32 pubkey,uint256 nonce,uint256 deadline)");

    /// @notice A published x25519 messaging key and its rotation counter.
    struct MessagingKey {
        bytes32 pubkey;
        uint64 version;
    }

    /// @notice Keys by wallet. `version` is 0 until the first registration.
    mapping(address => MessagingKey) private _keys;

    /// @notice The sequence number the next post will carry. Gives every post
    /// a total order that survives equal block numbers and log indices.
    uint64 public nextSequence;

    /// @notice The number of batches anchored; the next batch's id.
    uint64 public nextBatchId;

    /// @notice Registration-by-signature nonces, one counter per owner.
    mapping(address => uint256) public registrationNonces;

    /// @notice A wallet published (version 1) or rotated (version > 1) its key.
    event KeyRegistered(address indexed owner, bytes32 pubkey, uint64 version);

    /// @notice A message was anchored. `to` is a wallet address left-padded to
    /// 32 bytes, or a channel id. `digest` is the sha2-256 of the envelope block.
    event Posted(address indexed from, bytes32 indexed to, bytes32 indexed digest, uint64 sequence);

    /// @notice A Merkle root of signed posts was anchored. The manifest block
    /// (sha2-256 `manifestDigest`) lists the `count` posts in leaf order.
    event BatchAnchored(
        address indexed relayer, bytes32 indexed root, bytes32 manifestDigest, uint32 count, uint64 batchId
    );

    /// @notice The all-zero x25519 key is the identity point and would make
    /// every shared secret zero.
    error ZeroKey();
    /// @notice Rotating to the key already registered is a no-op that would
    /// still bump the version and confuse readers.
    error KeyUnchanged();
    /// @notice A post with no recipient cannot be delivered.
    error ZeroRecipient();
    /// @notice The zero digest names no block.
    error ZeroDigest();
    /// @notice A batch needs a root, a manifest and at least one post.
    error EmptyBatch();
    /// @notice The signature's deadline has passed.
    error Expired(uint256 deadline);
    /// @notice The signature was not made by the owner over this registration
    /// and the owner's current nonce (a replay fails here too).
    error BadSignature();

    constructor() EIP712("Cairn", "1") {}

    /// @notice Publishes or rotates the caller's x25519 messaging key.
    /// @return version The new key version, starting at 1.
    function registerKey(bytes32 pubkey) external returns (uint64 version) {
        return _registerKey(msg.sender, pubkey);
    }

    /// @notice Publishes or rotates `owner`'s key on their EIP-712 signature,
    /// so a relayer can pay the gas. Each signature is good once (the owner's
    /// nonce is part of it) and only until `deadline`.
    function registerKeyBySig(address owner, bytes32 pubkey, uint256 deadline, bytes calldata signature)
        external
        returns (uint64 version)
    {
        if (block.timestamp > deadline) revert Expired(deadline);
        uint256 nonce = registrationNonces[owner]++;
        bytes32 structHash = keccak256(abi.encode(REGISTER_KEY_TYPEHASH, owner, pubkey, nonce, deadline));
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(_hashTypedDataV4(structHash), signature);
        if (err != ECDSA.RecoverError.NoError || signer != owner) revert BadSignature();
        return _registerKey(owner, pubkey);
    }

    function _registerKey(address owner, bytes32 pubkey) private returns (uint64 version) {
        if (pubkey == bytes32(0)) revert ZeroKey();
        MessagingKey storage key = _keys[owner];
        if (key.pubkey == pubkey) revert KeyUnchanged();
        version = key.version + 1;
        key.pubkey = pubkey;
        key.version = version;
        emit KeyRegistered(owner, pubkey, version);
    }

    /// @notice The current key of `owner`; version 0 means none is registered.
    function keyOf(address owner) external view returns (bytes32 pubkey, uint64 version) {
        MessagingKey storage key = _keys[owner];
        return (key.pubkey, key.version);
    }

    /// @notice Anchors one message from the caller.
    /// @return sequence The post's sequence number.
    function post(bytes32 to, bytes32 digest) external returns (uint64 sequence) {
        if (to == bytes32(0)) revert ZeroRecipient();
        if (digest == bytes32(0)) revert ZeroDigest();
        sequence = nextSequence++;
        emit Posted(msg.sender, to, digest, sequence);
    }

    /// @notice Anchors a batch of signed posts in one transaction. Anyone may
    /// call it: the indexer checks every post's signature and Merkle
    /// inclusion before delivering it, so a relayer can delay a post but
    /// cannot forge or alter one.
    /// @return batchId The batch's id.
    function anchorBatch(bytes32 root, bytes32 manifestDigest, uint32 count) external returns (uint64 batchId) {
        if (root == bytes32(0) || manifestDigest == bytes32(0) || count == 0) revert EmptyBatch();
        batchId = nextBatchId++;
        emit BatchAnchored(msg.sender, root, manifestDigest, count, batchId);
    }

    /// @notice The EIP-712 digest a sender signs for a batched post.
    function hashPost(address from, bytes32 to, bytes32 digest, uint64 nonce, uint64 deadline)
        public
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(keccak256(abi.encode(POST_TYPEHASH, from, to, digest, nonce, deadline)));
    }

    /// @notice Who signed a batched post (zero for an invalid signature).
    function recoverPost(
        address from,
        bytes32 to,
        bytes32 digest,
        uint64 nonce,
        uint64 deadline,
        bytes calldata signature
    ) external view returns (address signer) {
        (signer,,) = ECDSA.tryRecover(hashPost(from, to, digest, nonce, deadline), signature);
    }
}
