// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

interface ISignatureTransfer {
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

    function permitWitnessTransferFrom(
        PermitTransferFrom calldata permit,
        SignatureTransferDetails calldata transferDetails,
        address owner,
        bytes32 witness,
        string calldata witnessTypeString,
        bytes calldata signature
    ) external;
}

interface IERC20Permit {
    function permit(address owner, address spender, uint256 value, uint256 deadline, uint8 v, bytes32 r, bytes32 s) external;
}

/// @title x402UptoPermit2Proxy
/// @notice x402-mcp's own x402 upto Permit2 proxy for its simulated chain,
/// with the interface of the x402 specification's
/// (specs/schemes/upto/scheme_upto_evm.md): the payer signs a maximum (the
/// permitted amount) and the facilitator named in the witness settles any
/// amount from 1 up to it, to the witness's payee; nobody else may settle
/// it. Witness(address to,address facilitator,uint256 validAfter). A zero
/// settlement sends no transaction (the signature expires unused), so
/// settle refuses an amount of 0. settleWithPermit first submits the
/// payer's EIP-2612 permit of Permit2 for the permitted amount. The
/// simulated chain places its runtime code at the canonical address
/// 0x4020A4f3b7b90ccA423B9fabCc0CE57C6C240002. Not for real money.
/// Compiled by scripts/compile-contracts.sh.
contract x402UptoPermit2Proxy {
    /// @notice Permit2's canonical address.
    ISignatureTransfer public constant PERMIT2 = ISignatureTransfer(0x000000000022D473030F116dDEE9F6B43aC78BA3);

    string public constant WITNESS_TYPE_STRING =
        "Witness witness)TokenPermissions(address token,uint256 amount)Witness(address to,address facilitator,uint256 validAfter)";

    bytes32 public constant WITNESS_TYPEHASH = keccak256("Witness(address to,address facilitator,uint256 validAfter)");

    struct Witness {
        address to;
        address facilitator;
        uint256 validAfter;
    }

    struct EIP2612Permit {
        uint256 value;
        uint256 deadline;
        bytes32 r;
        bytes32 s;
        uint8 v;
    }

    event x402PermitTransfer(address from, address to, uint256 amount, address asset);
    event EIP2612PermitFailed(address indexed token, address indexed owner, bytes reason);

    /// @notice Settles amount (at most the permitted maximum) of a payment
    /// the owner signed through Permit2, to witness.to. Only
    /// witness.facilitator may call it.
    function settle(
        ISignatureTransfer.PermitTransferFrom calldata permit,
        uint256 amount,
        address owner,
        Witness calldata witness,
        bytes calldata signature
    ) external {
        _settle(permit, amount, owner, witness, signature);
    }

    /// @notice Submits the owner's EIP-2612 permit of Permit2 for the
    /// permitted amount, then settles as settle does.
    function settleWithPermit(
        EIP2612Permit calldata permit2612,
        ISignatureTransfer.PermitTransferFrom calldata permit,
        uint256 amount,
        address owner,
        Witness calldata witness,
        bytes calldata signature
    ) external {
        require(permit2612.value == permit.permitted.amount, "x402: EIP-2612 permit value is not the permitted amount");
        try IERC20Permit(permit.permitted.token).permit(
            owner, address(PERMIT2), permit2612.value, permit2612.deadline, permit2612.v, permit2612.r, permit2612.s
        ) {} catch (bytes memory reason) {
            emit EIP2612PermitFailed(permit.permitted.token, owner, reason);
        }
        _settle(permit, amount, owner, witness, signature);
    }

    function _settle(
        ISignatureTransfer.PermitTransferFrom calldata permit,
        uint256 amount,
        address owner,
        Witness calldata witness,
        bytes calldata signature
    ) private {
        require(msg.sender == witness.facilitator, "x402: caller is not the witness's facilitator");
        require(amount > 0, "x402: a zero settlement sends no transaction");
        require(amount <= permit.permitted.amount, "x402: amount exceeds the permitted maximum");
        require(owner != address(0), "x402: owner is the zero address");
        require(witness.to != address(0), "x402: payee is the zero address");
        require(block.timestamp >= witness.validAfter, "x402: payment is not valid yet");
        bytes32 witnessHash = keccak256(abi.encode(WITNESS_TYPEHASH, witness.to, witness.facilitator, witness.validAfter));
        PERMIT2.permitWitnessTransferFrom(
            permit,
            ISignatureTransfer.SignatureTransferDetails({to: witness.to, requestedAmount: amount}),
            owner,
            witnessHash,
            WITNESS_TYPE_STRING,
            signature
        );
        emit x402PermitTransfer(owner, witness.to, amount, permit.permitted.token);
    }
}
