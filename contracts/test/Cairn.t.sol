// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Cairn} from "../src/Cairn.sol";
import {CairnKeys} from "../src/Keys.sol";
import {CairnPosts} from "../src/Posts.sol";
import {CairnTest} from "./Vm.sol";

contract CairnKeyRegistryTest is CairnTest {
    Cairn internal cairn;
    address internal constant ALICE = address(0xA11CE);

    event KeyRegistered(address indexed owner, bytes32 pubkey, uint64 version);

    function setUp() public {
        cairn = new Cairn();
    }

    function test_unregisteredKeyIsVersionZero() public view {
        (bytes32 key, uint64 version) = cairn.keyOf(ALICE);
        assertEq(key, bytes32(0), "key");
        assertEq(version, 0, "version");
    }

    function test_registerEmitsAndStores() public {
        vm.expectEmit(true, false, false, true);
        emit KeyRegistered(ALICE, bytes32(uint256(7)), 1);
        vm.prank(ALICE);
        uint64 version = cairn.registerKey(bytes32(uint256(7)));
        assertEq(version, 1, "returned version");
        (bytes32 key, uint64 stored) = cairn.keyOf(ALICE);
        assertEq(key, bytes32(uint256(7)), "key");
        assertEq(stored, 1, "stored version");
    }

    function test_revertsOnZeroKey() public {
        vm.prank(ALICE);
        vm.expectRevert(CairnKeys.ZeroKey.selector);
        cairn.registerKey(bytes32(0));
    }

    function test_revertsOnUnchangedKey() public {
        vm.startPrank(ALICE);
        cairn.registerKey(bytes32(uint256(1)));
        vm.expectRevert(CairnKeys.KeyUnchanged.selector);
        cairn.registerKey(bytes32(uint256(1)));
        vm.stopPrank();
    }

    /// Any sequence of distinct keys bumps the version once per rotation, and
    /// only the caller's own entry changes.
    function testFuzz_rotationBumpsVersion(address owner, bytes32 first, bytes32 second, address other) public {
        vm.assume(first != bytes32(0) && second != bytes32(0) && first != second && other != owner);
        vm.startPrank(owner);
        assertEq(cairn.registerKey(first), 1, "first version");
        assertEq(cairn.registerKey(second), 2, "second version");
        vm.stopPrank();
        (bytes32 key, uint64 version) = cairn.keyOf(owner);
        assertEq(key, second, "current key");
        assertEq(version, 2, "current version");
        (bytes32 otherKey, uint64 otherVersion) = cairn.keyOf(other);
        assertEq(otherKey, bytes32(0), "other key untouched");
        assertEq(otherVersion, 0, "other version untouched");
    }
}

contract CairnPostTest is CairnTest {
    Cairn internal cairn;

    event Posted(address indexed from, bytes32 indexed to, bytes32 indexed digest, uint64 sequence);

    function setUp() public {
        cairn = new Cairn();
    }

    function test_postEmitsSequencedEvents() public {
        address alice = address(0xA11CE);
        bytes32 bob = bytes32(uint256(uint160(address(0xB0B))));
        vm.expectEmit(true, true, true, true);
        emit Posted(alice, bob, keccak256("m0"), 0);
        vm.prank(alice);
        cairn.post(bob, keccak256("m0"));
        vm.expectEmit(true, true, true, true);
        emit Posted(alice, bob, keccak256("m1"), 1);
        vm.prank(alice);
        assertEq(cairn.post(bob, keccak256("m1")), 1, "second sequence");
        assertEq(cairn.nextSequence(), 2, "next sequence");
    }

    function test_revertsOnZeroRecipient() public {
        vm.expectRevert(CairnPosts.ZeroRecipient.selector);
        cairn.post(bytes32(0), keccak256("m"));
    }

    function test_revertsOnZeroDigest() public {
        vm.expectRevert(CairnPosts.ZeroDigest.selector);
        cairn.post(bytes32(uint256(1)), bytes32(0));
    }

    /// Every valid post is accepted from any sender, and sequence numbers are
    /// dense and strictly increasing across senders.
    /// Posts to wallets (a left-padded address) get dense sequence numbers;
    /// anything else names a channel (ChannelsTest).
    function testFuzz_sequenceIsDense(address from, address recipient, bytes32 digest, uint8 count) public {
        bytes32 to = bytes32(uint256(uint160(recipient)));
        vm.assume(to != bytes32(0) && digest != bytes32(0));
        for (uint256 i = 0; i < count; i++) {
            vm.expectEmit(true, true, true, true);
            emit Posted(from, to, digest, uint64(i));
            vm.prank(from);
            assertEq(cairn.post(to, digest), i, "sequence");
        }
        assertEq(cairn.nextSequence(), count, "next sequence");
    }
}
