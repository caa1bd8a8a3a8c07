// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title Cairn: anchors end-to-end encrypted messages and publishes messaging keys.
/// @notice The contract never sees plaintext. A message is an encrypted envelope
/// stored off-chain as an IPFS raw block; the chain holds only its sha2-256
/// digest, from which the block's CID can be rebuilt.
/// @dev Every state change emits an event, so an indexer can rebuild all state
/// from logs alone and never needs to read storage slots.
contract Cairn {
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

    /// @notice A wallet published (version 1) or rotated (version > 1) its key.
    event KeyRegistered(address indexed owner, bytes32 pubkey, uint64 version);

    /// @notice A message was anchored. `to` is a wallet address left-padded to
    /// 32 bytes, or a channel id. `digest` is the sha2-256 of the envelope block.
    event Posted(address indexed from, bytes32 indexed to, bytes32 indexed digest, uint64 sequence);

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

    /// @notice Publishes or rotates the caller's x25519 messaging key.
    /// @return version The new key version, starting at 1.
    function registerKey(bytes32 pubkey) external returns (uint64 version) {
        if (pubkey == bytes32(0)) revert ZeroKey();
        MessagingKey storage key = _keys[msg.sender];
        if (key.pubkey == pubkey) revert KeyUnchanged();
        version = key.version + 1;
        key.pubkey = pubkey;
        key.version = version;
        emit KeyRegistered(msg.sender, pubkey, version);
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
}
