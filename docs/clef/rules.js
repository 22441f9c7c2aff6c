// clef rules for x402-mcp: a second line of defence behind x402-mcp's own
// budgets. clef runs this file for every request (each in a fresh VM) and
// signs only what it approves. x402-mcp asks clef to sign, as EIP-712 typed
// data (account_signTypedData):
//   - an EIP-3009 TransferWithAuthorization (USDC's gasless transfer);
//   - a Permit2 PermitWitnessTransferFrom with x402's witness (a token
//     without EIP-3009, and usage-priced "upto" payments: the amount is
//     then the most the seller may take);
//   - an EIP-2612 Permit of Permit2, when a seller's facilitator submits
//     the approval for the wallet (gasless_approval in the catalog);
// and one transaction (account_signTransaction): the ERC-20 approve of
// Permit2 that `x402-mcp wallet approve-permit2` sends.
//
// Set the five lists below, then attest the file (clef only runs a rules
// file whose SHA-256 it was told, see docs/keys.md):
//   clef attest $(sha256sum rules.js | cut -d' ' -f1)

// The chains payments may be signed for (EIP-155 chain ids, decimal).
var CHAIN_IDS = ["8453"];
// The tokens: USDC on Base.
var TOKENS = ["0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"];
// The payees x402-mcp may pay: the sellers you use.
var PAYEES = ["0x209693Bc6afc0C5328bA36FaF03C514EF312287C"];
// The largest single payment (for upto, the largest maximum), in the
// token's atomic units (USDC has 6 decimals: "10000" is 0.01 USDC).
var MAX_AMOUNT = "10000";
// The largest allowance `x402-mcp wallet approve-permit2` may give Permit2,
// in the token's atomic units ("0" approves none).
var MAX_ALLOWANCE = "0";

// Permit2 and the x402 Permit2 proxies, the same on every chain.
var PERMIT2 = "0x000000000022D473030F116dDEE9F6B43aC78BA3";
var PROXIES = ["0x402085c248EeA27D92E8b30b2C58ed07f9E20001", "0x4020A4f3b7b90ccA423B9fabCc0CE57C6C240002"];

function has(list, value) {
	for (var i = 0; i < list.length; i++) {
		if (String(list[i]).toLowerCase() == String(value).toLowerCase()) {
			return true;
		}
	}
	return false;
}

// field returns the value of the field called name in clef's formatted
// typed data (a list of {name, type, value}; a struct's value is such a
// list too).
function field(fields, name) {
	if (!fields) {
		return undefined;
	}
	for (var i = 0; i < fields.length; i++) {
		if (fields[i].name == name) {
			return fields[i].value;
		}
	}
	return undefined;
}

// integer reads clef's formatting of a uint256: "1000 (0x3e8)".
function integer(formatted) {
	return new BigNumber(String(formatted).split(" ")[0]);
}

// atMost says a formatted uint256 is no more than the decimal max.
function atMost(formatted, max) {
	return !integer(formatted).greaterThan(new BigNumber(max));
}

// Sign a payment only within the lists above; reject the rest, so that
// nothing waits for a human.
function ApproveSignData(req) {
	if (req.content_type != "data/typed") {
		return "Reject";
	}
	var domain, message, primary;
	for (var i = 0; i < req.messages.length; i++) {
		var m = req.messages[i];
		if (m.type == "domain") {
			domain = m.value;
		} else if (m.type == "primary type") {
			primary = m.name;
			message = m.value;
		}
	}
	if (!domain || !message || !has(CHAIN_IDS, integer(field(domain, "chainId")).toString(10))) {
		return "Reject";
	}
	var contract = field(domain, "verifyingContract");
	if (primary == "TransferWithAuthorization") {
		// EIP-3009: the token is the domain's contract.
		if (has(TOKENS, contract) && has(PAYEES, field(message, "to")) && atMost(field(message, "value"), MAX_AMOUNT)) {
			return "Approve";
		}
	} else if (primary == "PermitWitnessTransferFrom") {
		// Permit2: the token and amount are permitted to an x402 proxy,
		// which pays only the witness's payee.
		var permitted = field(message, "permitted");
		var witness = field(message, "witness");
		if (contract.toLowerCase() == PERMIT2.toLowerCase() && has(PROXIES, field(message, "spender")) &&
			has(TOKENS, field(permitted, "token")) && has(PAYEES, field(witness, "to")) &&
			atMost(field(permitted, "amount"), MAX_AMOUNT)) {
			return "Approve";
		}
	} else if (primary == "Permit") {
		// EIP-2612: the token lets Permit2 take one payment's amount.
		if (has(TOKENS, contract) && String(field(message, "spender")).toLowerCase() == PERMIT2.toLowerCase() &&
			atMost(field(message, "value"), MAX_AMOUNT)) {
			return "Approve";
		}
	}
	return "Reject";
}

// The one transaction x402-mcp sends: approve(Permit2, amount) on a listed
// token, on a listed chain, with no ether, for at most MAX_ALLOWANCE.
function ApproveTx(req) {
	var tx = req.transaction;
	var data = String(tx.data || tx.input || "").toLowerCase();
	if (!has(CHAIN_IDS, new BigNumber(String(tx.chainId).slice(2), 16).toString(10)) || !has(TOKENS, tx.to)) {
		return "Reject";
	}
	if (!new BigNumber(String(tx.value || "0x0").slice(2) || "0", 16).isZero()) {
		return "Reject";
	}
	// approve(address,uint256): the selector, the spender, the amount.
	if (data.length != 2 + 8 + 64 + 64 || data.slice(0, 10) != "0x095ea7b3") {
		return "Reject";
	}
	var spender = "0x" + data.slice(10 + 24, 10 + 64);
	var amount = new BigNumber(data.slice(10 + 64), 16);
	if (spender != PERMIT2.toLowerCase() || amount.greaterThan(new BigNumber(MAX_ALLOWANCE))) {
		return "Reject";
	}
	return "Approve";
}

// Let x402-mcp list the account it pays from (or set X402_CLEF_ACCOUNT and
// reject listing).
function ApproveListing(req) {
	return "Approve";
}
