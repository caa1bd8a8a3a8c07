// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

/// @title Signer keys: a device key that signs for a wallet.
/// @notice As Farcaster's signers and XMTP's installation keys: a wallet
/// authorizes a device key once, and that key then signs the wallet's
/// batched posts, consent entries, uploads and sign-ins, so no message needs
/// a wallet prompt. An authorization has an expiry; a revocation is for
/// good, and takes effect from its block on. Readers replay the
/// `SignerAuthorized` and `SignerRevoked` logs of a (wallet, signer) pair
/// before an anchor to judge a post signed by it (docs/SIGNERS.md).
/// @dev The wallet may be a contract (ERC-1271): a Safe can authorize a
/// device through a relayer. A signer may revoke itself ("forget this
/// device" needs no wallet prompt).
abstract contract CairnSigners is EIP712 {
    /// @notice EIP-712 type of a signer authorization a relayer submits. A
    /// non-zero `messagingKey` also publishes the wallet's x25519 key, so
    /// that onboarding is one signature.
    bytes32 public constant AUTHORIZE_SIGNER_TYPEHASH = keccak256(
        "AuthorizeSigner(address owner,address signer,uint64 expiry,bytes32 messagingKey,uint256 nonce,uint256 deadline)"
    );
    /// @notice EIP-712 type of a revocation, signed by the wallet or by the
    /// signer itself.
    bytes32 public constant REVOKE_SIGNER_TYPEHASH =
        keccak256("RevokeSigner(address owner,address signer,uint256 nonce,uint256 deadline)");

    /// @notice One signer of one wallet.
    struct SignerState {
        uint64 expiry;
        bool revoked;
    }

    mapping(address => mapping(address => SignerState)) private _signers;

    /// @notice Signed-request nonces for signer changes, one counter per wallet.
    mapping(address => uint256) public signerNonces;

    /// @notice `owner` let `signer` sign for it until `expiry` (unix seconds).
    /// A later authorization of the same pair replaces the expiry.
    event SignerAuthorized(address indexed owner, address indexed signer, uint64 expiry);
    /// @notice `signer` no longer signs for `owner`, from this block on, for good.
    event SignerRevoked(address indexed owner, address indexed signer);

    /// @notice The zero address, or the wallet itself, is no signer.
    error InvalidSigner();
    /// @notice The expiry is already past.
    error ExpiryPassed(uint64 expiry);
    /// @notice A revoked signer is never authorized again: make a new key.
    error SignerWasRevoked();
    /// @notice Revoking a signer that is not authorized.
    error NotASigner();
    /// @notice The request's deadline has passed.
    error SignatureExpired(uint256 deadline);
    /// @notice The signature is not the wallet's (or, for a revocation, the
    /// signer's) over this request and the wallet's current nonce.
    error BadSignerSignature();

    /// @notice Authorizes `signer` for the caller until `expiry`.
    function authorizeSigner(address signer, uint64 expiry) external {
        _authorize(msg.sender, signer, expiry);
    }

    /// @notice Authorizes `signer` for `owner` on `owner`'s EIP-712 signature,
    /// and publishes `messagingKey` if it is non-zero and new. A relayer
    /// pays the gas; each signature is good once and only until `deadline`.
    function authorizeSignerBySig(
        address owner,
        address signer,
        uint64 expiry,
        bytes32 messagingKey,
        uint256 deadline,
        bytes calldata signature
    ) external {
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        bytes32 hash = _hashTypedDataV4(
            keccak256(
                abi.encode(
                    AUTHORIZE_SIGNER_TYPEHASH, owner, signer, expiry, messagingKey, signerNonces[owner]++, deadline
                )
            )
        );
        if (!SignatureChecker.isValidSignatureNow(owner, hash, signature)) revert BadSignerSignature();
        _authorize(owner, signer, expiry);
        if (messagingKey != bytes32(0)) _publishKey(owner, messagingKey);
    }

    /// @notice Revokes one of the caller's signers.
    function revokeSigner(address signer) external {
        _revoke(msg.sender, signer);
    }

    /// @notice Revokes `signer` of `owner` on a signature by `owner` or by
    /// `signer` itself.
    function revokeSignerBySig(address owner, address signer, uint256 deadline, bytes calldata signature) external {
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        bytes32 hash =
            _hashTypedDataV4(keccak256(abi.encode(REVOKE_SIGNER_TYPEHASH, owner, signer, signerNonces[owner]++, deadline)));
        if (
            !SignatureChecker.isValidSignatureNow(owner, hash, signature)
                && !SignatureChecker.isValidSignatureNow(signer, hash, signature)
        ) revert BadSignerSignature();
        _revoke(owner, signer);
    }

    /// @notice Until when `signer` signs for `owner`: zero when it never did,
    /// or was revoked. Readers compare it with an anchor block's time.
    function signerExpiry(address owner, address signer) external view returns (uint64) {
        SignerState storage s = _signers[owner][signer];
        return s.revoked ? 0 : s.expiry;
    }

    /// @notice The EIP-712 digest a wallet signs for `authorizeSignerBySig`.
    function hashAuthorizeSigner(address owner, address signer, uint64 expiry, bytes32 messagingKey, uint256 deadline)
        external
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(AUTHORIZE_SIGNER_TYPEHASH, owner, signer, expiry, messagingKey, signerNonces[owner], deadline)
            )
        );
    }

    /// @dev Whether `signature` over `hash` recovers to a device key that
    /// signs for `owner` now.
    function _deviceSigns(address owner, bytes32 hash, bytes calldata signature) internal view returns (bool) {
        (address key, ECDSA.RecoverError err,) = ECDSA.tryRecover(hash, signature);
        if (err != ECDSA.RecoverError.NoError) return false;
        SignerState storage s = _signers[owner][key];
        return !s.revoked && s.expiry >= block.timestamp;
    }

    function _authorize(address owner, address signer, uint64 expiry) private {
        if (signer == address(0) || signer == owner) revert InvalidSigner();
        if (expiry <= block.timestamp) revert ExpiryPassed(expiry);
        SignerState storage s = _signers[owner][signer];
        if (s.revoked) revert SignerWasRevoked();
        s.expiry = expiry;
        emit SignerAuthorized(owner, signer, expiry);
    }

    function _revoke(address owner, address signer) private {
        SignerState storage s = _signers[owner][signer];
        if (s.revoked || s.expiry == 0) revert NotASigner();
        s.revoked = true;
        emit SignerRevoked(owner, signer);
    }

    /// @dev Publishes `owner`'s messaging key unless it is already the current one.
    function _publishKey(address owner, bytes32 pubkey) internal virtual;
}
