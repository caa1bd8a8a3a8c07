// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

/// @notice What a token gate asks of a poster: `balanceOf`, as ERC-20 and
/// ERC-721 both answer it.
interface IBalanceOf {
    function balanceOf(address account) external view returns (uint256);
}

/// @title Channels: DAO groups whose membership lives on chain.
/// @notice A channel has admins, members, an optional token gate on who may
/// post, and a key epoch. Every change of members bumps the epoch; an admin
/// then publishes the epoch's key bundle (the channel key wrapped for each
/// member, stored off chain), whose digest is anchored here with the epoch
/// (docs/ENVELOPE.md, "Channels"). Admins may be contract wallets: a Safe
/// calls these functions itself, or any ERC-1271 wallet signs a change for
/// a relayer to submit.
abstract contract CairnChannels is EIP712 {
    /// @notice Who may post: members, or members holding at least
    /// `minBalance` of an ERC-20 or ERC-721 `token`.
    enum Gate {
        MembersOnly,
        ERC20,
        ERC721
    }

    /// @notice A channel's state.
    struct Channel {
        address creator;
        uint64 epoch;
        uint32 members;
        uint32 admins;
        Gate gate;
        address token;
        uint256 minBalance;
    }

    /// @notice EIP-712 type of a membership change an admin signs for a relayer.
    bytes32 public constant CHANGE_MEMBERS_TYPEHASH = keccak256(
        "ChangeMembers(bytes32 channel,address[] added,address[] removed,uint256 nonce,uint256 deadline)"
    );

    /// @notice EIP-712 type of a members-only channel an account (or its
    /// device key) signs for a relayer to create, with the signer as its
    /// only admin and a member.
    bytes32 public constant CREATE_CHANNEL_TYPEHASH =
        keccak256("CreateChannel(address creator,string name,address[] members,uint256 nonce,uint256 deadline)");
    /// @notice EIP-712 type of a key bundle an admin signs for a relayer to publish.
    bytes32 public constant PUBLISH_EPOCH_KEY_TYPEHASH = keccak256(
        "PublishEpochKey(bytes32 channel,uint64 epoch,bytes32 bundleDigest,uint256 nonce,uint256 deadline)"
    );
    /// @notice EIP-712 type of a new epoch an admin signs for a relayer to start.
    bytes32 public constant NEW_EPOCH_TYPEHASH = keccak256("NewEpoch(bytes32 channel,uint256 nonce,uint256 deadline)");

    /// @notice The longest channel name, in bytes.
    uint256 public constant MAX_NAME = 64;

    mapping(bytes32 => Channel) private _channels;
    /// @notice Whether an account is a member of a channel (reads its messages).
    mapping(bytes32 => mapping(address => bool)) public isMember;
    /// @notice Whether an account is an admin of a channel (changes who is in it).
    mapping(bytes32 => mapping(address => bool)) public isAdmin;
    /// @notice Signed-change nonces, one counter per admin.
    mapping(address => uint256) public adminNonces;
    /// @notice Channels created so far; part of the next channel's id.
    uint64 public channelCount;
    /// @notice The key bundle published for a channel's epoch (zero: none yet).
    /// One per epoch: a second would leave the epoch's earlier posts sealed
    /// under a key that readers, who take the epoch's bundle, never find.
    mapping(bytes32 => mapping(uint64 => bytes32)) public epochBundle;

    /// @notice A channel was created. `gate` is a {Gate}.
    event ChannelCreated(
        bytes32 indexed channel, address indexed creator, string name, uint8 gate, address token, uint256 minBalance
    );
    /// @notice Members were added or removed, or an admin started a new epoch
    /// with both lists empty ({newEpoch}); the channel's key epoch is now `epoch`.
    event MembersChanged(bytes32 indexed channel, uint64 indexed epoch, address[] added, address[] removed);
    /// @notice Admins were added or removed.
    event AdminsChanged(bytes32 indexed channel, address[] added, address[] removed);
    /// @notice The key bundle of `epoch` (sha2-256 of its first block) was published.
    event EpochKeyPublished(bytes32 indexed channel, uint64 indexed epoch, bytes32 bundleDigest);

    /// @notice No channel has this id.
    error UnknownChannel(bytes32 channel);
    /// @notice Only the channel's admins may do this.
    error NotAdmin(bytes32 channel, address account);
    /// @notice The sender is not a member, or holds too little of the gate token.
    error NotAllowedToPost(bytes32 channel, address account);
    /// @notice A name is 1 to 64 bytes.
    error BadName();
    /// @notice A gate names a token and a positive balance; no gate names neither.
    error BadGate();
    /// @notice The zero address cannot be a member or an admin.
    error ZeroAccount();
    /// @notice Added twice, or already in.
    error AlreadyIn(address account);
    /// @notice Removed but not in.
    error NotIn(address account);
    /// @notice A change must change something.
    error NoChange();
    /// @notice A channel keeps at least one admin.
    error LastAdmin();
    /// @notice Keys are published for the current epoch only.
    error WrongEpoch(uint64 current);
    /// @notice The zero digest names no bundle.
    error ZeroBundle();
    /// @notice This epoch has its key bundle already; start a new epoch ({newEpoch}) to rotate.
    error KeyAlreadyPublished(uint64 epoch);
    /// @notice The signed change's deadline has passed.
    error ChangeExpired(uint256 deadline);
    /// @notice The signature is not the admin's (account, ERC-1271 wallet,
    /// or a device key that signs for the admin now).
    error BadAdminSignature();

    /// @notice Creates a channel with its first admins and members (epoch 1).
    /// @return channel The new channel's id: its top bit is set, so it never
    /// reads as a left-padded address.
    function createChannel(
        string calldata name,
        address[] calldata admins,
        address[] calldata members,
        Gate gate,
        address token,
        uint256 minBalance
    ) external returns (bytes32 channel) {
        return _create(msg.sender, name, admins, members, gate, token, minBalance);
    }

    /// @notice Creates a members-only channel for `creator`, on its signature
    /// (an account's, an ERC-1271 wallet's, or its device key's), with the
    /// creator as the only admin and a member besides `members`. Each
    /// signature is good once (the creator's `adminNonces`) and only until
    /// `deadline`.
    function createChannelBySig(
        address creator,
        string calldata name,
        address[] calldata members,
        uint256 deadline,
        bytes calldata signature
    ) external returns (bytes32 channel) {
        _checkCreate(creator, keccak256(bytes(name)), keccak256(abi.encodePacked(members)), deadline, signature);
        return _create(creator, name, _one(creator), _withCreator(creator, members), Gate.MembersOnly, address(0), 0);
    }

    function _checkCreate(
        address creator,
        bytes32 nameHash,
        bytes32 membersHash,
        uint256 deadline,
        bytes calldata signature
    ) private {
        if (block.timestamp > deadline) revert ChangeExpired(deadline);
        bytes32 hash = _hashCreate(creator, nameHash, membersHash, adminNonces[creator]++, deadline);
        if (!_signsFor(creator, hash, signature)) revert BadAdminSignature();
    }

    function _hashCreate(address creator, bytes32 nameHash, bytes32 membersHash, uint256 nonce, uint256 deadline)
        private
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(
            keccak256(abi.encode(CREATE_CHANNEL_TYPEHASH, creator, nameHash, membersHash, nonce, deadline))
        );
    }

    function _withCreator(address creator, address[] calldata members) private pure returns (address[] memory all) {
        all = new address[](members.length + 1);
        all[0] = creator;
        for (uint256 i = 0; i < members.length; i++) {
            all[i + 1] = members[i];
        }
    }

    /// @notice The EIP-712 digest a creator signs for `createChannelBySig`.
    function hashCreateChannel(
        address creator,
        string calldata name,
        address[] calldata members,
        uint256 nonce,
        uint256 deadline
    ) public view returns (bytes32) {
        return _hashCreate(creator, keccak256(bytes(name)), keccak256(abi.encodePacked(members)), nonce, deadline);
    }

    function _create(
        address creator,
        string calldata name,
        address[] memory admins,
        address[] memory members,
        Gate gate,
        address token,
        uint256 minBalance
    ) private returns (bytes32 channel) {
        if (bytes(name).length == 0 || bytes(name).length > MAX_NAME) revert BadName();
        if ((gate == Gate.MembersOnly) != (token == address(0) && minBalance == 0)) revert BadGate();
        if (gate != Gate.MembersOnly && (token == address(0) || minBalance == 0)) revert BadGate();
        if (admins.length == 0) revert LastAdmin();
        channel = bytes32(
            uint256(keccak256(abi.encode(block.chainid, address(this), creator, channelCount++))) | (1 << 255)
        );
        Channel storage c = _channels[channel];
        c.creator = creator;
        c.gate = gate;
        c.token = token;
        c.minBalance = minBalance;
        emit ChannelCreated(channel, creator, name, uint8(gate), token, minBalance);
        _changeAdmins(channel, admins, new address[](0));
        c.epoch = 1;
        _applyMembers(channel, members, new address[](0));
        emit MembersChanged(channel, 1, members, new address[](0));
    }

    /// @notice Adds and removes members in one change, bumping the epoch once.
    /// @return epoch The channel's new key epoch.
    function changeMembers(bytes32 channel, address[] calldata added, address[] calldata removed)
        external
        returns (uint64 epoch)
    {
        _requireAdmin(channel, msg.sender);
        return _changeMembers(channel, added, removed);
    }

    /// @notice Adds one member.
    function addMember(bytes32 channel, address account) external returns (uint64 epoch) {
        _requireAdmin(channel, msg.sender);
        return _changeMembers(channel, _one(account), new address[](0));
    }

    /// @notice Removes one member.
    function removeMember(bytes32 channel, address account) external returns (uint64 epoch) {
        _requireAdmin(channel, msg.sender);
        return _changeMembers(channel, new address[](0), _one(account));
    }

    /// @notice A membership change signed by an admin (an account, or an
    /// ERC-1271 wallet such as a Safe), submitted by anyone. Each signature
    /// is good once (the admin's nonce is part of it) and only until `deadline`.
    function changeMembersBySig(
        bytes32 channel,
        address[] calldata added,
        address[] calldata removed,
        address admin,
        uint256 deadline,
        bytes calldata signature
    ) external returns (uint64 epoch) {
        if (block.timestamp > deadline) revert ChangeExpired(deadline);
        _requireAdmin(channel, admin);
        bytes32 hash = hashChangeMembers(channel, added, removed, adminNonces[admin]++, deadline);
        if (!_signsFor(admin, hash, signature)) revert BadAdminSignature();
        return _changeMembers(channel, added, removed);
    }

    /// @notice The EIP-712 digest an admin signs for `changeMembersBySig`.
    function hashChangeMembers(
        bytes32 channel,
        address[] calldata added,
        address[] calldata removed,
        uint256 nonce,
        uint256 deadline
    ) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    CHANGE_MEMBERS_TYPEHASH,
                    channel,
                    keccak256(abi.encodePacked(added)),
                    keccak256(abi.encodePacked(removed)),
                    nonce,
                    deadline
                )
            )
        );
    }

    /// @notice Adds and removes admins. Admins do not read by being admins:
    /// reading is for members. A channel keeps at least one admin.
    function changeAdmins(bytes32 channel, address[] calldata added, address[] calldata removed) external {
        _requireAdmin(channel, msg.sender);
        if (added.length == 0 && removed.length == 0) revert NoChange();
        _changeAdmins(channel, added, removed);
    }

    /// @notice Anchors the key bundle of the channel's current epoch.
    function publishEpochKey(bytes32 channel, uint64 epoch, bytes32 bundleDigest) external {
        _requireAdmin(channel, msg.sender);
        _publishEpochKey(channel, epoch, bundleDigest);
    }

    /// @notice {publishEpochKey} on an admin's signature, submitted by anyone.
    function publishEpochKeyBySig(
        address admin,
        bytes32 channel,
        uint64 epoch,
        bytes32 bundleDigest,
        uint256 deadline,
        bytes calldata signature
    ) external {
        if (block.timestamp > deadline) revert ChangeExpired(deadline);
        _requireAdmin(channel, admin);
        bytes32 hash = _hashTypedDataV4(
            keccak256(
                abi.encode(PUBLISH_EPOCH_KEY_TYPEHASH, channel, epoch, bundleDigest, adminNonces[admin]++, deadline)
            )
        );
        if (!_signsFor(admin, hash, signature)) revert BadAdminSignature();
        _publishEpochKey(channel, epoch, bundleDigest);
    }

    function _publishEpochKey(bytes32 channel, uint64 epoch, bytes32 bundleDigest) private {
        uint64 current = _channels[channel].epoch;
        if (epoch != current) revert WrongEpoch(current);
        if (bundleDigest == bytes32(0)) revert ZeroBundle();
        if (epochBundle[channel][epoch] != bytes32(0)) revert KeyAlreadyPublished(epoch);
        epochBundle[channel][epoch] = bundleDigest;
        emit EpochKeyPublished(channel, epoch, bundleDigest);
    }

    /// @notice Starts a new key epoch with the same members, so that a fresh
    /// key can be published: after a member registers a key (or replaces a
    /// weak one), or to retire a key that may have leaked. Admins only.
    /// @return epoch The channel's new key epoch.
    function newEpoch(bytes32 channel) external returns (uint64 epoch) {
        _requireAdmin(channel, msg.sender);
        return _newEpoch(channel);
    }

    /// @notice {newEpoch} on an admin's signature, submitted by anyone.
    function newEpochBySig(address admin, bytes32 channel, uint256 deadline, bytes calldata signature)
        external
        returns (uint64 epoch)
    {
        if (block.timestamp > deadline) revert ChangeExpired(deadline);
        _requireAdmin(channel, admin);
        bytes32 hash =
            _hashTypedDataV4(keccak256(abi.encode(NEW_EPOCH_TYPEHASH, channel, adminNonces[admin]++, deadline)));
        if (!_signsFor(admin, hash, signature)) revert BadAdminSignature();
        return _newEpoch(channel);
    }

    function _newEpoch(bytes32 channel) private returns (uint64 epoch) {
        epoch = ++_channels[channel].epoch;
        emit MembersChanged(channel, epoch, new address[](0), new address[](0));
    }

    /// @notice A channel's state; `epoch` 0 means it does not exist.
    function channelOf(bytes32 channel) external view returns (Channel memory) {
        return _channels[channel];
    }

    /// @notice Whether `account` may post to `channel` now.
    function canPost(bytes32 channel, address account) public view returns (bool) {
        Channel storage c = _channels[channel];
        if (!isMember[channel][account]) return false;
        if (c.gate == Gate.MembersOnly) return true;
        try IBalanceOf(c.token).balanceOf(account) returns (uint256 balance) {
            return balance >= c.minBalance;
        } catch {
            return false;
        }
    }

    /// @dev Whether `signature` over `hash` is `account`'s: an account's
    /// ECDSA, an ERC-1271 wallet's, or a device key's that signs for it now.
    function _signsFor(address account, bytes32 hash, bytes calldata signature) internal view virtual returns (bool);

    /// @dev Reverts unless `sender` may post to `channel` now; direct posts ask it.
    function _requirePoster(bytes32 channel, address sender) internal view {
        if (_channels[channel].epoch == 0) revert UnknownChannel(channel);
        if (!canPost(channel, sender)) revert NotAllowedToPost(channel, sender);
    }

    function _requireAdmin(bytes32 channel, address account) private view {
        if (_channels[channel].epoch == 0) revert UnknownChannel(channel);
        if (!isAdmin[channel][account]) revert NotAdmin(channel, account);
    }

    function _changeMembers(bytes32 channel, address[] memory added, address[] memory removed)
        private
        returns (uint64 epoch)
    {
        if (added.length == 0 && removed.length == 0) revert NoChange();
        _applyMembers(channel, added, removed);
        epoch = ++_channels[channel].epoch;
        emit MembersChanged(channel, epoch, added, removed);
    }

    function _applyMembers(bytes32 channel, address[] memory added, address[] memory removed) private {
        Channel storage c = _channels[channel];
        mapping(address => bool) storage members = isMember[channel];
        for (uint256 i = 0; i < removed.length; i++) {
            if (!members[removed[i]]) revert NotIn(removed[i]);
            members[removed[i]] = false;
        }
        for (uint256 i = 0; i < added.length; i++) {
            if (added[i] == address(0)) revert ZeroAccount();
            if (members[added[i]]) revert AlreadyIn(added[i]);
            members[added[i]] = true;
        }
        c.members = uint32(c.members + added.length - removed.length);
    }

    function _changeAdmins(bytes32 channel, address[] memory added, address[] memory removed) private {
        Channel storage c = _channels[channel];
        mapping(address => bool) storage admins = isAdmin[channel];
        for (uint256 i = 0; i < removed.length; i++) {
            if (!admins[removed[i]]) revert NotIn(removed[i]);
            admins[removed[i]] = false;
        }
        for (uint256 i = 0; i < added.length; i++) {
            if (added[i] == address(0)) revert ZeroAccount();
            if (admins[added[i]]) revert AlreadyIn(added[i]);
            admins[added[i]] = true;
        }
        c.admins = uint32(c.admins + added.length - removed.length);
        if (c.admins == 0) revert LastAdmin();
        emit AdminsChanged(channel, added, removed);
    }

    function _one(address account) private pure returns (address[] memory list) {
        list = new address[](1);
        list[0] = account;
    }
}
