// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title Direct posts: one transaction anchors one message.
/// @notice `to` is a wallet address left-padded to 32 bytes, or a channel id
/// (whose top 12 bytes are never all zero). A post to a channel is accepted
/// only from a sender the channel lets post.
abstract contract CairnPosts {
    /// @notice The sequence number the next post will carry. Gives every post
    /// a total order that survives equal block numbers and log indices.
    uint64 public nextSequence;

    /// @notice A message was anchored. `digest` is the sha2-256 of the envelope block.
    event Posted(address indexed from, bytes32 indexed to, bytes32 indexed digest, uint64 sequence);

    /// @notice A post with no recipient cannot be delivered.
    error ZeroRecipient();
    /// @notice The zero digest names no block.
    error ZeroDigest();

    /// @notice Anchors one message from the caller.
    /// @return sequence The post's sequence number.
    function post(bytes32 to, bytes32 digest) external returns (uint64 sequence) {
        if (to == bytes32(0)) revert ZeroRecipient();
        if (digest == bytes32(0)) revert ZeroDigest();
        if (uint256(to) >> 160 != 0) _checkChannelPoster(to, msg.sender);
        sequence = nextSequence++;
        emit Posted(msg.sender, to, digest, sequence);
    }

    /// @dev Reverts unless `sender` may post to the channel `channel`.
    function _checkChannelPoster(bytes32 channel, address sender) internal view virtual;
}
