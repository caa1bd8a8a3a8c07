// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Cairn} from "../src/Cairn.sol";
import {CairnChannels} from "../src/Channels.sol";
import {CairnSigners} from "../src/Signers.sol";
import {TestWallet} from "./Fixtures.sol";
import {CairnTest} from "./Vm.sol";

contract CairnSignersTest is CairnTest {
    Cairn internal cairn;
    uint256 internal constant OWNER_KEY = 0xA11CE;
    uint256 internal constant DEVICE_KEY = 0xD3F1CE;
    address internal owner;
    address internal device;
    uint64 internal constant EXPIRY = 2_000_000_000;

    event SignerAuthorized(address indexed owner, address indexed signer, uint64 expiry);
    event SignerRevoked(address indexed owner, address indexed signer);
    event KeyRegistered(address indexed owner, bytes32 pubkey, uint64 version);

    function setUp() public {
        cairn = new Cairn();
        owner = vm.addr(OWNER_KEY);
        device = vm.addr(DEVICE_KEY);
        vm.warp(1_700_000_000);
    }

    function sign(uint256 key, bytes32 hash) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, hash);
        return abi.encodePacked(r, s, v);
    }

    function authorizeBySig(bytes32 messagingKey) internal {
        uint256 deadline = block.timestamp + 600;
        bytes32 hash = cairn.hashAuthorizeSigner(owner, device, EXPIRY, messagingKey, deadline);
        cairn.authorizeSignerBySig(owner, device, EXPIRY, messagingKey, deadline, sign(OWNER_KEY, hash));
    }

    function revokeHash(address signer, uint256 deadline) internal view returns (bytes32) {
        return typedHash(
            keccak256(abi.encode(cairn.REVOKE_SIGNER_TYPEHASH(), owner, signer, cairn.signerNonces(owner), deadline))
        );
    }

    /// The EIP-712 digest of `typed` under the contract's domain.
    function typedHash(bytes32 typed) internal view returns (bytes32) {
        (, string memory name, string memory version, uint256 chainId, address verifying,,) = cairn.eip712Domain();
        bytes32 domainSeparator = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256(bytes(name)),
                keccak256(bytes(version)),
                chainId,
                verifying
            )
        );
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator, typed));
    }

    function test_anUnknownSignerHasNoExpiry() public view {
        assertEq(cairn.signerExpiry(owner, device), 0, "expiry");
    }

    function test_oneSignatureAuthorizesTheSignerAndPublishesTheKey() public {
        vm.expectEmit(true, true, false, true);
        emit SignerAuthorized(owner, device, EXPIRY);
        vm.expectEmit(true, false, false, true);
        emit KeyRegistered(owner, bytes32(uint256(9)), 1);
        authorizeBySig(bytes32(uint256(9)));
        assertEq(cairn.signerExpiry(owner, device), EXPIRY, "expiry");
        (bytes32 key, uint64 version) = cairn.keyOf(owner);
        assertEq(key, bytes32(uint256(9)), "messaging key");
        assertEq(version, 1, "key version");
        assertEq(cairn.signerNonces(owner), 1, "nonce used");
    }

    function test_theSameKeyAgainIsNoRotation() public {
        authorizeBySig(bytes32(uint256(9)));
        authorizeBySig(bytes32(uint256(9)));
        (, uint64 version) = cairn.keyOf(owner);
        assertEq(version, 1, "key version unchanged");
    }

    function test_aSignatureIsGoodOnce() public {
        uint256 deadline = block.timestamp + 600;
        bytes memory sig = sign(OWNER_KEY, cairn.hashAuthorizeSigner(owner, device, EXPIRY, 0, deadline));
        cairn.authorizeSignerBySig(owner, device, EXPIRY, 0, deadline, sig);
        vm.expectRevert(CairnSigners.BadSignerSignature.selector);
        cairn.authorizeSignerBySig(owner, device, EXPIRY, 0, deadline, sig);
    }

    function test_anotherWalletsSignatureIsRefused() public {
        uint256 deadline = block.timestamp + 600;
        bytes32 hash = cairn.hashAuthorizeSigner(owner, device, EXPIRY, 0, deadline);
        bytes memory sig = sign(DEVICE_KEY, hash);
        vm.expectRevert(CairnSigners.BadSignerSignature.selector);
        cairn.authorizeSignerBySig(owner, device, EXPIRY, 0, deadline, sig);
    }

    function test_anExpiredRequestIsRefused() public {
        uint256 deadline = block.timestamp - 1;
        bytes memory sig = sign(OWNER_KEY, cairn.hashAuthorizeSigner(owner, device, EXPIRY, 0, deadline));
        vm.expectRevert(abi.encodeWithSelector(CairnSigners.SignatureExpired.selector, deadline));
        cairn.authorizeSignerBySig(owner, device, EXPIRY, 0, deadline, sig);
    }

    function test_aPastExpiryOrTheWalletItselfIsRefused() public {
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(CairnSigners.ExpiryPassed.selector, uint64(block.timestamp)));
        cairn.authorizeSigner(device, uint64(block.timestamp));
        vm.prank(owner);
        vm.expectRevert(CairnSigners.InvalidSigner.selector);
        cairn.authorizeSigner(owner, EXPIRY);
    }

    function test_theSignerItselfMayRevokeAndItIsForGood() public {
        authorizeBySig(0);
        uint256 deadline = block.timestamp + 600;
        bytes memory sig = sign(DEVICE_KEY, revokeHash(device, deadline));
        vm.expectEmit(true, true, false, false);
        emit SignerRevoked(owner, device);
        cairn.revokeSignerBySig(owner, device, deadline, sig);
        assertEq(cairn.signerExpiry(owner, device), 0, "revoked");
        vm.prank(owner);
        vm.expectRevert(CairnSigners.SignerWasRevoked.selector);
        cairn.authorizeSigner(device, EXPIRY);
    }

    function test_aStrangerCannotRevoke() public {
        authorizeBySig(0);
        uint256 deadline = block.timestamp + 600;
        bytes memory sig = sign(0xBAD, revokeHash(device, deadline));
        vm.expectRevert(CairnSigners.BadSignerSignature.selector);
        cairn.revokeSignerBySig(owner, device, deadline, sig);
    }

    function test_theWalletRevokesByTransaction() public {
        vm.startPrank(owner);
        cairn.authorizeSigner(device, EXPIRY);
        cairn.revokeSigner(device);
        vm.expectRevert(CairnSigners.NotASigner.selector);
        cairn.revokeSigner(device);
        vm.stopPrank();
    }

    function test_aContractWalletAuthorizesBySignature() public {
        TestWallet safe = new TestWallet(owner);
        uint256 deadline = block.timestamp + 600;
        bytes32 hash = cairn.hashAuthorizeSigner(address(safe), device, EXPIRY, 0, deadline);
        cairn.authorizeSignerBySig(address(safe), device, EXPIRY, 0, deadline, sign(OWNER_KEY, hash));
        assertEq(cairn.signerExpiry(address(safe), device), EXPIRY, "expiry");
    }

    /// A device key administers its wallet's channel through a relayer:
    /// create, add a member, start an epoch, publish its key; once revoked,
    /// it can do none of it.
    function test_aDeviceKeyAdministersItsWalletsChannelUntilRevoked() public {
        authorizeBySig(0);
        address bob = address(0xB0B);
        address carol = address(0xCA201);
        uint256 deadline = block.timestamp + 600;
        address[] memory members = new address[](1);
        members[0] = bob;
        bytes32 hash = cairn.hashCreateChannel(owner, "dao", members, cairn.adminNonces(owner), deadline);
        bytes32 channel = cairn.createChannelBySig(owner, "dao", members, deadline, sign(DEVICE_KEY, hash));
        assertEq(cairn.channelOf(channel).creator, owner, "creator");
        if (!cairn.isAdmin(channel, owner) || !cairn.isMember(channel, owner) || !cairn.isMember(channel, bob)) {
            revert("the creator is the admin and a member, beside Bob");
        }

        address[] memory added = new address[](1);
        added[0] = carol;
        address[] memory none = new address[](0);
        hash = cairn.hashChangeMembers(channel, added, none, cairn.adminNonces(owner), deadline);
        assertEq(cairn.changeMembersBySig(channel, added, none, owner, deadline, sign(DEVICE_KEY, hash)), 2, "epoch");

        hash = typedHash(keccak256(abi.encode(cairn.NEW_EPOCH_TYPEHASH(), channel, cairn.adminNonces(owner), deadline)));
        assertEq(cairn.newEpochBySig(owner, channel, deadline, sign(DEVICE_KEY, hash)), 3, "new epoch");

        bytes32 bundle = bytes32(uint256(5));
        hash = typedHash(
            keccak256(
                abi.encode(cairn.PUBLISH_EPOCH_KEY_TYPEHASH(), channel, uint64(3), bundle, cairn.adminNonces(owner), deadline)
            )
        );
        cairn.publishEpochKeyBySig(owner, channel, 3, bundle, deadline, sign(DEVICE_KEY, hash));
        assertEq(cairn.epochBundle(channel, 3), bundle, "bundle");

        // A stranger's key is no admin's.
        hash = typedHash(keccak256(abi.encode(cairn.NEW_EPOCH_TYPEHASH(), channel, cairn.adminNonces(owner), deadline)));
        vm.expectRevert(CairnChannels.BadAdminSignature.selector);
        cairn.newEpochBySig(owner, channel, deadline, sign(0xBAD, hash));

        vm.prank(owner);
        cairn.revokeSigner(device);
        hash = typedHash(keccak256(abi.encode(cairn.NEW_EPOCH_TYPEHASH(), channel, cairn.adminNonces(owner), deadline)));
        vm.expectRevert(CairnChannels.BadAdminSignature.selector);
        cairn.newEpochBySig(owner, channel, deadline, sign(DEVICE_KEY, hash));
    }
}
