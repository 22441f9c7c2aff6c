// clef rules for x402-mcp: a second line of defence behind x402-mcp's own
// budgets. clef runs this file for every request (each in a fresh VM) and
// signs only what it approves. x402-mcp asks clef to sign one kind of
// message: an EIP-3009 TransferWithAuthorization (USDC's gasless
// transfer), as EIP-712 typed data (account_signTypedData).
//
// Set the four lists below, then attest the file (clef only runs a rules
// file whose SHA-256 it was told, see docs/keys.md):
//   clef attest $(sha256sum rules.js | cut -d' ' -f1)

// The chains payments may be signed for (EIP-155 chain ids, decimal).
var CHAIN_IDS = ["8453"];
// The tokens (the EIP-712 domain's verifyingContract): USDC on Base.
var TOKENS = ["0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"];
// The payees x402-mcp may pay: the sellers you use.
var PAYEES = ["0x209693Bc6afc0C5328bA36FaF03C514EF312287C"];
// The largest single payment, in the token's atomic units (USDC has 6
// decimals: "10000" is 0.01 USDC).
var MAX_AMOUNT = "10000";

function has(list, value) {
	for (var i = 0; i < list.length; i++) {
		if (String(list[i]).toLowerCase() == String(value).toLowerCase()) {
			return true;
		}
	}
	return false;
}

// field returns the value of the field called name in clef's formatted
// typed data (a list of {name, type, value}).
function field(fields, name) {
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

// Sign an EIP-3009 transfer only within the lists above; reject the rest,
// so that nothing waits for a human.
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
	if (primary != "TransferWithAuthorization" || !domain || !message) {
		return "Reject";
	}
	if (!has(CHAIN_IDS, integer(field(domain, "chainId")).toString(10))) {
		return "Reject";
	}
	if (!has(TOKENS, field(domain, "verifyingContract"))) {
		return "Reject";
	}
	if (!has(PAYEES, field(message, "to"))) {
		return "Reject";
	}
	if (integer(field(message, "value")).greaterThan(new BigNumber(MAX_AMOUNT))) {
		return "Reject";
	}
	return "Approve";
}

// Transactions are never x402-mcp's: reject them all.
function ApproveTx(req) {
	return "Reject";
}

// Let x402-mcp list the account it pays from (or set X402_CLEF_ACCOUNT and
// reject listing).
function ApproveListing(req) {
	return "Approve";
}
