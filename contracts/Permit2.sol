// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title Permit2
/// @notice x402-mcp's own Permit2-compatible contract for its simulated
/// chain: the SignatureTransfer half of Uniswap's Permit2 (permitTransferFrom
/// and permitWitnessTransferFrom with unordered nonces, nonceBitmap and
/// invalidateUnorderedNonces) under the same EIP-712 domain, typehashes,
/// function selectors and storage layout of the nonce bitmap. Tokens move by
/// the owner's ERC-20 allowance to this contract (transferFrom). The
/// simulated chain places its runtime code at Permit2's canonical address,
/// 0x000000000022D473030F116dDEE9F6B43aC78BA3, so nothing here may be set
/// by a constructor: the domain separator is computed from block.chainid and
/// address(this) on every call. Signatures are EOA signatures of 65 (r, s,
/// v) or 64 bytes (EIP-2098 r, vs). Not for real money.
/// Compiled by scripts/compile-contracts.sh; the artifacts beside this file
/// are committed so that Go builds need no compiler.
contract Permit2 {
    struct TokenPermissions {
        address token;
        uint256 amount;
    }

    struct PermitTransferFrom {
        TokenPermissions permitted;
        uint256 nonce;
        uint256 deadline;
    }

    struct SignatureTransferDetails {
        address to;
        uint256 requestedAmount;
    }

    bytes32 public constant _TOKEN_PERMISSIONS_TYPEHASH = keccak256("TokenPermissions(address token,uint256 amount)");

    bytes32 public constant _PERMIT_TRANSFER_FROM_TYPEHASH = keccak256(
        "PermitTransferFrom(TokenPermissions permitted,address spender,uint256 nonce,uint256 deadline)TokenPermissions(address token,uint256 amount)"
    );

    string public constant _PERMIT_TRANSFER_FROM_WITNESS_TYPEHASH_STUB =
        "PermitWitnessTransferFrom(TokenPermissions permitted,address spender,uint256 nonce,uint256 deadline,";

    /// @notice keccak256 of Permit2's EIP-712 domain type: it has a name and
    /// no version.
    bytes32 public constant _DOMAIN_TYPEHASH = keccak256("EIP712Domain(string name,uint256 chainId,address verifyingContract)");

    bytes32 private constant _HASHED_NAME = keccak256("Permit2");

    /// @notice owner => word position => bitmap of used unordered nonces: a
    /// nonce is used when bit (nonce & 0xff) of word (nonce >> 8) is set.
    mapping(address => mapping(uint256 => uint256)) public nonceBitmap;

    event UnorderedNonceInvalidation(address indexed owner, uint256 word, uint256 mask);

    /// @notice The EIP-712 domain separator: name "Permit2", no version,
    /// this chain's id and this contract's address.
    function DOMAIN_SEPARATOR() public view returns (bytes32) {
        return keccak256(abi.encode(_DOMAIN_TYPEHASH, _HASHED_NAME, block.chainid, address(this)));
    }

    /// @notice Transfers a token with a signed permit (no witness).
    function permitTransferFrom(
        PermitTransferFrom calldata permit,
        SignatureTransferDetails calldata transferDetails,
        address owner,
        bytes calldata signature
    ) external {
        bytes32 structHash = keccak256(abi.encode(
            _PERMIT_TRANSFER_FROM_TYPEHASH, _hashTokenPermissions(permit.permitted), msg.sender, permit.nonce, permit.deadline));
        _permitTransferFrom(permit, transferDetails, owner, structHash, signature);
    }

    /// @notice Transfers a token with a signed permit whose message also
    /// covers a witness: the caller (the spender) gives the witness's hash
    /// and the rest of the type string after the stub.
    function permitWitnessTransferFrom(
        PermitTransferFrom calldata permit,
        SignatureTransferDetails calldata transferDetails,
        address owner,
        bytes32 witness,
        string calldata witnessTypeString,
        bytes calldata signature
    ) external {
        bytes32 typeHash = keccak256(abi.encodePacked(_PERMIT_TRANSFER_FROM_WITNESS_TYPEHASH_STUB, witnessTypeString));
        bytes32 structHash = keccak256(abi.encode(
            typeHash, _hashTokenPermissions(permit.permitted), msg.sender, permit.nonce, permit.deadline, witness));
        _permitTransferFrom(permit, transferDetails, owner, structHash, signature);
    }

    /// @notice Marks the caller's nonces in mask of word wordPos used.
    function invalidateUnorderedNonces(uint256 wordPos, uint256 mask) external {
        nonceBitmap[msg.sender][wordPos] |= mask;
        emit UnorderedNonceInvalidation(msg.sender, wordPos, mask);
    }

    function _permitTransferFrom(
        PermitTransferFrom calldata permit,
        SignatureTransferDetails calldata transferDetails,
        address owner,
        bytes32 structHash,
        bytes calldata signature
    ) private {
        uint256 requestedAmount = transferDetails.requestedAmount;
        require(block.timestamp <= permit.deadline, "Permit2: signature expired");
        require(requestedAmount <= permit.permitted.amount, "Permit2: requested amount above the permitted amount");
        _useUnorderedNonce(owner, permit.nonce);
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", DOMAIN_SEPARATOR(), structHash));
        _verify(signature, digest, owner);
        _transferFrom(permit.permitted.token, owner, transferDetails.to, requestedAmount);
    }

    function _hashTokenPermissions(TokenPermissions calldata permitted) private pure returns (bytes32) {
        return keccak256(abi.encode(_TOKEN_PERMISSIONS_TYPEHASH, permitted.token, permitted.amount));
    }

    function _useUnorderedNonce(address from, uint256 nonce) private {
        uint256 wordPos = nonce >> 8;
        uint256 bit = 1 << (nonce & 0xff);
        uint256 flipped = nonceBitmap[from][wordPos] ^= bit;
        require(flipped & bit != 0, "Permit2: nonce already used");
    }

    function _verify(bytes calldata signature, bytes32 digest, address claimedSigner) private pure {
        bytes32 r;
        bytes32 s;
        uint8 v;
        if (signature.length == 65) {
            (r, s) = abi.decode(signature, (bytes32, bytes32));
            v = uint8(signature[64]);
        } else if (signature.length == 64) {
            bytes32 vs;
            (r, vs) = abi.decode(signature, (bytes32, bytes32));
            s = vs & bytes32(0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff);
            v = uint8(uint256(vs >> 255)) + 27;
        } else {
            revert("Permit2: invalid signature length");
        }
        address signer = ecrecover(digest, v, r, s);
        require(signer != address(0), "Permit2: invalid signature");
        require(signer == claimedSigner, "Permit2: signature is not the owner's");
    }

    /// @dev ERC-20 transferFrom that accepts tokens returning nothing and
    /// passes on the token's revert reason.
    function _transferFrom(address token, address from, address to, uint256 amount) private {
        require(token.code.length > 0, "Permit2: token has no code");
        (bool ok, bytes memory data) = token.call(abi.encodeWithSelector(0x23b872dd, from, to, amount));
        if (!ok) {
            assembly {
                revert(add(data, 32), mload(data))
            }
        }
        require(data.length == 0 || abi.decode(data, (bool)), "Permit2: transferFrom returned false");
    }
}
