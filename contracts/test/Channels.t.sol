// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Cairn} from "../src/Cairn.sol";
import {CairnChannels} from "../src/Channels.sol";
import {TestBadge as Badge, TestToken as Token, TestWallet as Wallet} from "./Fixtures.sol";
import {CairnTest} from "./Vm.sol";

contract ChannelsTest is CairnTest {
    Cairn internal cairn;
    uint256 internal constant ADMIN_KEY = 0xAD;
    address internal admin;
    address internal constant ALICE = address(0xA11CE);
    address internal constant BOB = address(0xB0B);
    address internal constant CAROL = address(0xCA201);
    bytes32 internal constant DIGEST = bytes32(uint256(0xd1));

    event MembersChanged(bytes32 indexed channel, uint64 indexed epoch, address[] added, address[] removed);
    event EpochKeyPublished(bytes32 indexed channel, uint64 indexed epoch, bytes32 bundleDigest);

    function setUp() public {
        cairn = new Cairn();
        admin = vm.addr(ADMIN_KEY);
    }

    function list(address a) internal pure returns (address[] memory l) {
        l = new address[](1);
        l[0] = a;
    }

    function list(address a, address b) internal pure returns (address[] memory l) {
        l = new address[](2);
        (l[0], l[1]) = (a, b);
    }

    function none() internal pure returns (address[] memory) {
        return new address[](0);
    }

    function create(address[] memory members) internal returns (bytes32) {
        vm.prank(admin);
        return cairn.createChannel("dao", list(admin), members, CairnChannels.Gate.MembersOnly, address(0), 0);
    }

    function test_createSetsTheFirstEpochAndAnIdThatIsNoAddress() public {
        vm.expectEmit(false, true, false, true);
        emit MembersChanged(bytes32(0), 1, list(ALICE, BOB), none());
        bytes32 channel = create(list(ALICE, BOB));
        assertEq(uint256(channel) >> 255, 1, "top bit set");
        CairnChannels.Channel memory c = cairn.channelOf(channel);
        assertEq(c.epoch, 1, "epoch");
        assertEq(c.members, 2, "members");
        assertEq(c.admins, 1, "admins");
        assertEq(c.creator, admin, "creator");
        assertEq(cairn.isMember(channel, ALICE) ? 1 : 0, 1, "Alice in");
        assertEq(cairn.isAdmin(channel, admin) ? 1 : 0, 1, "admin");
        bytes32 second = create(none());
        assertEq(second == channel ? 1 : 0, 0, "ids differ");
    }

    function test_createRefusesBadInput() public {
        vm.expectRevert(CairnChannels.BadName.selector);
        cairn.createChannel("", list(admin), none(), CairnChannels.Gate.MembersOnly, address(0), 0);
        vm.expectRevert(CairnChannels.BadName.selector);
        cairn.createChannel(
            "0123456789012345678901234567890123456789012345678901234567890123456789",
            list(admin),
            none(),
            CairnChannels.Gate.MembersOnly,
            address(0),
            0
        );
        vm.expectRevert(CairnChannels.LastAdmin.selector);
        cairn.createChannel("dao", none(), none(), CairnChannels.Gate.MembersOnly, address(0), 0);
        vm.expectRevert(CairnChannels.BadGate.selector);
        cairn.createChannel("dao", list(admin), none(), CairnChannels.Gate.ERC20, address(0), 1);
        vm.expectRevert(CairnChannels.BadGate.selector);
        cairn.createChannel("dao", list(admin), none(), CairnChannels.Gate.ERC721, address(1), 0);
        vm.expectRevert(CairnChannels.BadGate.selector);
        cairn.createChannel("dao", list(admin), none(), CairnChannels.Gate.MembersOnly, address(1), 0);
        vm.expectRevert(abi.encodeWithSelector(CairnChannels.AlreadyIn.selector, ALICE));
        cairn.createChannel("dao", list(admin), list(ALICE, ALICE), CairnChannels.Gate.MembersOnly, address(0), 0);
        vm.expectRevert(CairnChannels.ZeroAccount.selector);
        cairn.createChannel("dao", list(address(0)), none(), CairnChannels.Gate.MembersOnly, address(0), 0);
    }

    function test_adminsAddAndRemoveOneByOneOrInBulkEachChangeBumpsTheEpoch() public {
        bytes32 channel = create(list(ALICE));
        vm.startPrank(admin);
        assertEq(cairn.addMember(channel, BOB), 2, "add");
        assertEq(cairn.removeMember(channel, ALICE), 3, "remove");
        vm.expectEmit(true, true, false, true);
        emit MembersChanged(channel, 4, list(ALICE, CAROL), list(BOB));
        assertEq(cairn.changeMembers(channel, list(ALICE, CAROL), list(BOB)), 4, "bulk");
        vm.stopPrank();
        assertEq(cairn.channelOf(channel).members, 2, "count");
        assertEq(cairn.isMember(channel, BOB) ? 1 : 0, 0, "Bob out");
    }

    function test_membershipChangesRefuseWhatDoesNotFit() public {
        bytes32 channel = create(list(ALICE));
        vm.startPrank(admin);
        vm.expectRevert(abi.encodeWithSelector(CairnChannels.AlreadyIn.selector, ALICE));
        cairn.addMember(channel, ALICE);
        vm.expectRevert(abi.encodeWithSelector(CairnChannels.NotIn.selector, BOB));
        cairn.removeMember(channel, BOB);
        vm.expectRevert(CairnChannels.ZeroAccount.selector);
        cairn.addMember(channel, address(0));
        vm.expectRevert(CairnChannels.NoChange.selector);
        cairn.changeMembers(channel, none(), none());
        vm.expectRevert(abi.encodeWithSelector(CairnChannels.UnknownChannel.selector, bytes32(uint256(1) << 255)));
        cairn.addMember(bytes32(uint256(1) << 255), BOB);
        vm.stopPrank();
    }

    function test_onlyAdminsChangeMembersAdminsAndKeys() public {
        bytes32 channel = create(list(ALICE));
        vm.startPrank(ALICE);
        vm.expectRevert(abi.encodeWithSelector(CairnChannels.NotAdmin.selector, channel, ALICE));
        cairn.addMember(channel, BOB);
        vm.expectRevert(abi.encodeWithSelector(CairnChannels.NotAdmin.selector, channel, ALICE));
        cairn.removeMember(channel, ALICE);
        vm.expectRevert(abi.encodeWithSelector(CairnChannels.NotAdmin.selector, channel, ALICE));
        cairn.changeAdmins(channel, list(ALICE), none());
        vm.expectRevert(abi.encodeWithSelector(CairnChannels.NotAdmin.selector, channel, ALICE));
        cairn.publishEpochKey(channel, 1, DIGEST);
        vm.stopPrank();
    }

    function test_adminsManageAdminsAndKeepAtLeastOne() public {
        bytes32 channel = create(none());
        vm.startPrank(admin);
        cairn.changeAdmins(channel, list(BOB), none());
        vm.stopPrank();
        vm.prank(BOB);
        cairn.changeAdmins(channel, none(), list(admin));
        assertEq(cairn.isAdmin(channel, admin) ? 1 : 0, 0, "removed by another admin");
        vm.prank(BOB);
        vm.expectRevert(CairnChannels.LastAdmin.selector);
        cairn.changeAdmins(channel, none(), list(BOB));
        vm.prank(BOB);
        vm.expectRevert(CairnChannels.NoChange.selector);
        cairn.changeAdmins(channel, none(), none());
        assertEq(cairn.channelOf(channel).epoch, 1, "admin changes leave the epoch");
    }

    function test_keysArePublishedForTheCurrentEpochOnly() public {
        bytes32 channel = create(list(ALICE));
        vm.startPrank(admin);
        vm.expectEmit(true, true, false, true);
        emit EpochKeyPublished(channel, 1, DIGEST);
        cairn.publishEpochKey(channel, 1, DIGEST);
        cairn.addMember(channel, BOB);
        vm.expectRevert(abi.encodeWithSelector(CairnChannels.WrongEpoch.selector, uint64(2)));
        cairn.publishEpochKey(channel, 1, DIGEST);
        vm.expectRevert(CairnChannels.ZeroBundle.selector);
        cairn.publishEpochKey(channel, 2, bytes32(0));
        vm.stopPrank();
    }

    function test_anEpochHasOneBundleAndANewEpochKeepsTheMembers() public {
        bytes32 channel = create(list(ALICE));
        bytes32 other = keccak256("another bundle");
        vm.startPrank(admin);
        cairn.publishEpochKey(channel, 1, DIGEST);
        vm.expectRevert(abi.encodeWithSelector(CairnChannels.KeyAlreadyPublished.selector, uint64(1)));
        cairn.publishEpochKey(channel, 1, other);
        assertEq(cairn.epochBundle(channel, 1), DIGEST, "the first bundle stays");
        vm.expectEmit(true, true, false, true);
        emit MembersChanged(channel, 2, none(), none());
        assertEq(cairn.newEpoch(channel), 2, "the next epoch");
        cairn.publishEpochKey(channel, 2, other);
        vm.stopPrank();
        assertEq(cairn.epochBundle(channel, 2), other, "its own bundle");
        assertEq(cairn.channelOf(channel).members, 1, "the same members");
        assertEq(cairn.isMember(channel, ALICE) ? 1 : 0, 1, "still a member");
        vm.prank(ALICE);
        vm.expectRevert(abi.encodeWithSelector(CairnChannels.NotAdmin.selector, channel, ALICE));
        cairn.newEpoch(channel);
    }

    function test_onlyMembersPostAndRemovalStopsThem() public {
        bytes32 channel = create(list(ALICE));
        vm.prank(ALICE);
        cairn.post(channel, DIGEST);
        vm.prank(BOB);
        vm.expectRevert(abi.encodeWithSelector(CairnChannels.NotAllowedToPost.selector, channel, BOB));
        cairn.post(channel, DIGEST);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(CairnChannels.NotAllowedToPost.selector, channel, admin));
        cairn.post(channel, DIGEST);
        vm.prank(admin);
        cairn.removeMember(channel, ALICE);
        vm.prank(ALICE);
        vm.expectRevert(abi.encodeWithSelector(CairnChannels.NotAllowedToPost.selector, channel, ALICE));
        cairn.post(channel, DIGEST);
        bytes32 unknown = bytes32(uint256(7) << 200);
        vm.expectRevert(abi.encodeWithSelector(CairnChannels.UnknownChannel.selector, unknown));
        cairn.post(unknown, DIGEST);
    }

    function test_anErc20GateLetsHoldingMembersPost() public {
        Token token = new Token();
        vm.prank(admin);
        bytes32 channel =
            cairn.createChannel("holders", list(admin), list(ALICE), CairnChannels.Gate.ERC20, address(token), 100);
        assertEq(cairn.canPost(channel, ALICE) ? 1 : 0, 0, "no tokens yet");
        token.mint(ALICE, 100);
        vm.prank(ALICE);
        cairn.post(channel, DIGEST);
        vm.prank(ALICE);
        token.transfer(BOB, 1);
        vm.prank(ALICE);
        vm.expectRevert(abi.encodeWithSelector(CairnChannels.NotAllowedToPost.selector, channel, ALICE));
        cairn.post(channel, DIGEST);
        token.mint(CAROL, 100);
        assertEq(cairn.canPost(channel, CAROL) ? 1 : 0, 0, "a holder who is no member");
    }

    function test_anErc721GateCountsBadges() public {
        Badge badge = new Badge();
        vm.prank(admin);
        bytes32 channel =
            cairn.createChannel("badged", list(admin), list(ALICE), CairnChannels.Gate.ERC721, address(badge), 1);
        assertEq(cairn.canPost(channel, ALICE) ? 1 : 0, 0, "no badge");
        badge.mint(ALICE, 1);
        assertEq(cairn.canPost(channel, ALICE) ? 1 : 0, 1, "badge");
    }

    function signChange(
        uint256 key,
        bytes32 channel,
        address[] memory added,
        address[] memory removed,
        address signer,
        uint256 deadline
    ) internal view returns (bytes memory) {
        bytes32 hash = cairn.hashChangeMembers(channel, added, removed, cairn.adminNonces(signer), deadline);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, hash);
        return abi.encodePacked(r, s, v);
    }

    function test_anErc1271AdminSignsAChangeForARelayerOnce() public {
        Wallet safe = new Wallet(admin);
        vm.prank(admin);
        bytes32 channel =
            cairn.createChannel("dao", list(address(safe)), none(), CairnChannels.Gate.MembersOnly, address(0), 0);
        bytes memory sig = signChange(ADMIN_KEY, channel, list(BOB), none(), address(safe), 100);
        vm.prank(CAROL);
        assertEq(cairn.changeMembersBySig(channel, list(BOB), none(), address(safe), 100, sig), 2, "epoch");
        assertEq(cairn.isMember(channel, BOB) ? 1 : 0, 1, "Bob added");
        vm.expectRevert(CairnChannels.BadAdminSignature.selector);
        cairn.changeMembersBySig(channel, list(BOB), none(), address(safe), 100, sig);
        bytes memory other = signChange(0xBAD, channel, list(CAROL), none(), address(safe), 100);
        vm.expectRevert(CairnChannels.BadAdminSignature.selector);
        cairn.changeMembersBySig(channel, list(CAROL), none(), address(safe), 100, other);
        vm.warp(101);
        bytes memory late = signChange(ADMIN_KEY, channel, list(CAROL), none(), address(safe), 100);
        vm.expectRevert(abi.encodeWithSelector(CairnChannels.ChangeExpired.selector, uint256(100)));
        cairn.changeMembersBySig(channel, list(CAROL), none(), address(safe), 100, late);
        // The same wallet can also act itself, as a Safe executes a transaction.
        vm.prank(admin);
        safe.call(address(cairn), abi.encodeCall(cairn.addMember, (channel, CAROL)));
        assertEq(cairn.isMember(channel, CAROL) ? 1 : 0, 1, "Carol added by the wallet's own call");
    }

    /// Any sequence of additions and removals of a small population keeps
    /// the count equal to the members, and bumps the epoch once per change.
    function testFuzz_membershipCountAndEpochFollowTheChanges(uint8[24] calldata ops) public {
        bytes32 channel = create(none());
        address[8] memory people;
        for (uint256 i = 0; i < 8; i++) {
            people[i] = address(uint160(0x1000 + i));
        }
        uint64 epoch = 1;
        uint32 count = 0;
        vm.startPrank(admin);
        for (uint256 i = 0; i < ops.length; i++) {
            address who = people[ops[i] % 8];
            if (cairn.isMember(channel, who)) {
                assertEq(cairn.removeMember(channel, who), ++epoch, "epoch after removal");
                count--;
            } else {
                assertEq(cairn.addMember(channel, who), ++epoch, "epoch after addition");
                count++;
            }
            assertEq(cairn.channelOf(channel).members, count, "count");
        }
        vm.stopPrank();
        uint32 actual = 0;
        for (uint256 i = 0; i < 8; i++) {
            if (cairn.isMember(channel, people[i])) actual++;
        }
        assertEq(actual, count, "members in the map");
    }
}
