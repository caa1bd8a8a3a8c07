// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @title The messaging key registry: one x25519 public key per wallet.
/// @notice Keys are published by their owner, or by a relayer carrying the
/// owner's EIP-712 signature so that a wallet with no ETH can register.
abstract contract CairnKeys is EIP712 {
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

    /// @notice Registration-by-signature nonces, one counter per owner.
    mapping(address => uint256) public registrationNonces;

    /// @notice A wallet published (version 1) or rotated (version > 1) its key.
    event KeyRegistered(address indexed owner, bytes32 pubkey, uint64 version);

    /// @notice The all-zero x25519 key is the identity point and would make
    /// every shared secret zero.
    error ZeroKey();
    /// @notice Rotating to the key already registered is a no-op that would
    /// still bump the version and confuse readers.
    error KeyUnchanged();
    /// @notice The signature's deadline has passed.
    error Expired(uint256 deadline);
    /// @notice The signature was not made by the signer it names, over this
    /// request and the signer's current nonce (a replay fails here too).
    error BadSignature();

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

    /// @dev Publishes `pubkey` for `owner` unless it is the current key already.
    function _registerKeyIfNew(address owner, bytes32 pubkey) internal {
        if (_keys[owner].pubkey != pubkey) _registerKey(owner, pubkey);
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
}
