// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Cairn} from "../src/Cairn.sol";
import {CairnKeys} from "../src/Keys.sol";
import {CairnBatches} from "../src/Batches.sol";
import {CairnTest} from "./Vm.sol";

contract CairnBatchTest is CairnTest {
    Cairn internal cairn;
    uint256 internal constant ALICE_PK = 0xA11CE;
    address internal alice;
    address internal constant RELAYER = address(0xBEEF);

    event KeyRegistered(address indexed owner, bytes32 pubkey, uint64 version);
    event BatchAnchored(
        address indexed relayer, bytes32 indexed root, bytes32 manifestDigest, uint32 count, uint64 batchId
    );

    function setUp() public {
        cairn = new Cairn();
        alice = vm.addr(ALICE_PK);
    }

    function signRegistration(uint256 pk, address owner, bytes32 pubkey, uint256 nonce, uint256 deadline)
        internal
        view
        returns (bytes memory)
    {
        bytes32 structHash = keccak256(abi.encode(cairn.REGISTER_KEY_TYPEHASH(), owner, pubkey, nonce, deadline));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(pk, keccak256(abi.encodePacked("\x19\x01", domainSeparator(), structHash)));
        return abi.encodePacked(r, s, v);
    }

    function domainSeparator() internal view returns (bytes32) {
        return keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("Cairn"),
                keccak256("1"),
                block.chainid,
                address(cairn)
            )
        );
    }

    function test_relayerRegistersKeyWithOwnersSignature() public {
        bytes memory sig = signRegistration(ALICE_PK, alice, bytes32(uint256(5)), 0, block.timestamp + 1 hours);
        vm.expectEmit(true, false, false, true);
        emit KeyRegistered(alice, bytes32(uint256(5)), 1);
        vm.prank(RELAYER);
        cairn.registerKeyBySig(alice, bytes32(uint256(5)), block.timestamp + 1 hours, sig);
        (bytes32 key,) = cairn.keyOf(alice);
        assertEq(key, bytes32(uint256(5)), "alice's key, not the relayer's");
        assertEq(cairn.registrationNonces(alice), 1, "nonce consumed");
    }

    function test_replayedRegistrationIsRejected() public {
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory sig = signRegistration(ALICE_PK, alice, bytes32(uint256(5)), 0, deadline);
        cairn.registerKeyBySig(alice, bytes32(uint256(5)), deadline, sig);
        vm.expectRevert(CairnKeys.BadSignature.selector);
        cairn.registerKeyBySig(alice, bytes32(uint256(5)), deadline, sig);
    }

    function test_expiredRegistrationIsRejected() public {
        uint256 deadline = block.timestamp + 10;
        bytes memory sig = signRegistration(ALICE_PK, alice, bytes32(uint256(5)), 0, deadline);
        vm.warp(deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(CairnKeys.Expired.selector, deadline));
        cairn.registerKeyBySig(alice, bytes32(uint256(5)), deadline, sig);
    }

    function test_registrationSignedByAnotherKeyIsRejected() public {
        bytes memory sig = signRegistration(0xBAD, alice, bytes32(uint256(5)), 0, block.timestamp + 1);
        vm.expectRevert(CairnKeys.BadSignature.selector);
        cairn.registerKeyBySig(alice, bytes32(uint256(5)), block.timestamp + 1, sig);
    }

    /// A signature over one post never validates another.
    function testFuzz_postSignatureRecovery(uint256 pk, bytes32 to, bytes32 digest, uint64 nonce, uint64 deadline)
        public
        view
    {
        pk = bound(pk);
        address signer = vm.addr(pk);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(pk, cairn.hashPost(signer, to, digest, nonce, deadline));
        bytes memory sig = abi.encodePacked(r, s, v);
        assertEq(cairn.recoverPost(signer, to, digest, nonce, deadline, sig), signer, "recovers the signer");
        assertEq(
            cairn.recoverPost(signer, to, digest, nonce ^ 1, deadline, sig) == signer ? 1 : 0,
            0,
            "another nonce does not recover the signer"
        );
        assertEq(
            cairn.recoverPost(signer, to, digest ^ bytes32(uint256(1)), nonce, deadline, sig) == signer ? 1 : 0,
            0,
            "another digest does not recover the signer"
        );
    }

    function bound(uint256 pk) internal pure returns (uint256) {
        // secp256k1 order n: valid private keys are 1..n-1.
        uint256 n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
        return 1 + (pk % (n - 1));
    }

    function test_anchorBatchEmitsAndCounts() public {
        vm.expectEmit(true, true, false, true);
        emit BatchAnchored(RELAYER, bytes32(uint256(1)), bytes32(uint256(2)), 4096, 0);
        vm.prank(RELAYER);
        assertEq(cairn.anchorBatch(bytes32(uint256(1)), bytes32(uint256(2)), 4096), 0, "first batch id");
        assertEq(cairn.anchorBatch(bytes32(uint256(3)), bytes32(uint256(4)), 1), 1, "second batch id");
    }

    function test_anchorBatchRejectsEmpty() public {
        vm.expectRevert(CairnBatches.EmptyBatch.selector);
        cairn.anchorBatch(bytes32(0), bytes32(uint256(2)), 1);
        vm.expectRevert(CairnBatches.EmptyBatch.selector);
        cairn.anchorBatch(bytes32(uint256(1)), bytes32(0), 1);
        vm.expectRevert(CairnBatches.EmptyBatch.selector);
        cairn.anchorBatch(bytes32(uint256(1)), bytes32(uint256(2)), 0);
    }
}
