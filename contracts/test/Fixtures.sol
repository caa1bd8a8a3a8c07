// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

// Contracts the tests deploy beside Cairn: gate tokens anyone may mint, and
// a Safe-like ERC-1271 wallet. The forge tests use them, and so do the Rust
// tests on Anvil, through their committed artifacts (artifacts.sh).

/// An ERC-20 anyone may mint.
contract TestToken is ERC20 {
    constructor() ERC20("Gov", "GOV") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}

/// An ERC-721 anyone may mint.
contract TestBadge is ERC721 {
    constructor() ERC721("Badge", "BDG") {}

    function mint(address to, uint256 id) external {
        _mint(to, id);
    }
}

/// A Safe-like wallet: valid signatures are its owner's (ERC-1271), and it
/// can also make calls itself.
contract TestWallet {
    address public immutable owner;

    constructor(address owner_) {
        owner = owner_;
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        (address signer,,) = ECDSA.tryRecover(hash, signature);
        return signer == owner ? bytes4(0x1626ba7e) : bytes4(0xffffffff);
    }

    function call(address target, bytes calldata data) external returns (bytes memory) {
        require(msg.sender == owner, "not the owner");
        (bool ok, bytes memory out) = target.call(data);
        require(ok, "call failed");
        return out;
    }
}

