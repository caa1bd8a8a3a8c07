// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @title Batched anchoring: one Merkle root for many signed posts.
/// @notice Anyone may anchor a batch. The indexer checks every post's
/// signature and inclusion (and, for a channel, the sender's membership at
/// the anchor's block) before delivering it, so a relayer can delay a post
/// but cannot forge or alter one (docs/BATCHING.md).
abstract contract CairnBatches is EIP712 {
    /// @notice EIP-712 type of a post signed for batching. A relayer may carry
    /// it, but only the sender's signature makes it valid.
    bytes32 public constant POST_TYPEHASH =
        keccak256("Post(address from,bytes32 to,bytes32 digest,uint64 nonce,uint64 deadline)");

    /// @notice The number of batches anchored; the next batch's id.
    uint64 public nextBatchId;

    /// @notice A Merkle root of signed posts was anchored. The manifest block
    /// (sha2-256 `manifestDigest`) lists the `count` posts in leaf order.
    event BatchAnchored(
        address indexed relayer, bytes32 indexed root, bytes32 manifestDigest, uint32 count, uint64 batchId
    );

    /// @notice A batch needs a root, a manifest and at least one post.
    error EmptyBatch();

    /// @notice Anchors a batch of signed posts in one transaction.
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
