// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {CairnBatches} from "./Batches.sol";
import {CairnChannels} from "./Channels.sol";
import {CairnKeys} from "./Keys.sol";
import {CairnPosts} from "./Posts.sol";
import {CairnSigners} from "./Signers.sol";

/// @title Cairn: anchors end-to-end encrypted messages, publishes messaging
/// keys, and keeps DAO channels' membership.
/// @notice The contract never sees plaintext. A message is an encrypted envelope
/// stored off-chain as an IPFS raw block; the chain holds only its sha2-256
/// digest, from which the block's CID can be rebuilt.
/// @dev One deployed contract, one ABI, one address, built from one part per
/// concern: keys (Keys.sol), device signers (Signers.sol), direct posts (Posts.sol), batches (Batches.sol)
/// and channels (Channels.sol). Every state change emits an event, so an
/// indexer can rebuild all state from logs alone and never needs to read
/// storage slots. EIP-712 domain: name "Cairn", version "1", this chain,
/// this contract (docs/BATCHING.md).
contract Cairn is CairnKeys, CairnSigners, CairnPosts, CairnBatches, CairnChannels {
    constructor() EIP712("Cairn", "1") {}

    function _checkChannelPoster(bytes32 channel, address sender) internal view override {
        _requirePoster(channel, sender);
    }

    function _signsFor(address account, bytes32 hash, bytes calldata signature) internal view override returns (bool) {
        return SignatureChecker.isValidSignatureNow(account, hash, signature) || _deviceSigns(account, hash, signature);
    }

    function _publishKey(address owner, bytes32 pubkey) internal override {
        _registerKeyIfNew(owner, pubkey);
    }
}
