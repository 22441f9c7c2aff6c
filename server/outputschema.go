package server

import (
	"encoding/json"
	"fmt"

	"github.com/x402-mcp/x402-mcp/payments"
)

// The outputSchemas of the built-in tools that answer structured content
// (MCP tools/list, outputSchema): hosts may check each answer against them,
// and models learn the fields' meanings from the descriptions. They must
// match WalletStatus, HistoryEntry and quoteOut exactly; every object is
// closed (additionalProperties: false), so a field added to those types
// without its schema fails TestBuiltinOutputSchemas.

// usdcPattern is a decimal USDC amount as the built-ins write it
// (payments.Amount.String: no trailing zeros, at most six decimals).
const usdcPattern = `^[0-9]+(\.[0-9]{1,6})?$`

// limitPattern is a decimal USDC amount or "unlimited".
const limitPattern = `^([0-9]+(\.[0-9]{1,6})?|unlimited)$`

// schema helpers: each returns one JSON Schema node.
func object(desc string, props map[string]any, required ...string) map[string]any {
	o := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if desc != "" {
		o["description"] = desc
	}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

func str(desc string) map[string]any { return map[string]any{"type": "string", "description": desc} }

func usdc(desc string) map[string]any {
	return map[string]any{"type": "string", "pattern": usdcPattern, "description": desc + " (decimal USDC, such as \"0.01\")"}
}

// decimalPattern is a decimal amount of any asset (at most
// payments.MaxDecimals decimals), as Currency.Decimal writes it.
var decimalPattern = fmt.Sprintf(`^[0-9]+(\.[0-9]{1,%d})?$`, payments.MaxDecimals)

// decimal is an amount of the asset its object names (symbol, decimals).
func decimal(desc string) map[string]any {
	return map[string]any{"type": "string", "pattern": decimalPattern, "description": desc + " (a decimal of the asset named by symbol)"}
}

// decimalOrUnlimited is decimal, or "unlimited".
func decimalOrUnlimited(desc string) map[string]any {
	return map[string]any{"type": "string", "pattern": fmt.Sprintf(`^([0-9]+(\.[0-9]{1,%d})?|unlimited)$`, payments.MaxDecimals),
		"description": desc + " (a decimal of the asset named by its currency, or \"unlimited\")"}
}

func limit(desc string) map[string]any {
	return map[string]any{"type": "string", "pattern": limitPattern, "description": desc + " (decimal USDC, or \"unlimited\")"}
}

func enum(desc string, values ...string) map[string]any {
	return map[string]any{"type": "string", "enum": values, "description": desc}
}

func integer(desc string, min int) map[string]any {
	return map[string]any{"type": "integer", "minimum": min, "description": desc}
}

func boolean(desc string) map[string]any {
	return map[string]any{"type": "boolean", "description": desc}
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("server: output schema: %v", err)) // a bug in the literals below
	}
	return b
}

// scopeSchema is a ScopeStatus.
func scopeSchema(desc string) map[string]any {
	return object(desc, map[string]any{
		"limit":   usdc("The budget's limit"),
		"counted": usdc("What counts against it now: settled, in-flight, unknown and refused payments"),
		"left":    usdc("What it still allows"),
		"window":  str("How the day is measured: \"rolling 24 hours\" or \"calendar day in <time zone>\""),
		"resets":  str("When it resets: an RFC 3339 time (a calendar day), or \"when this session ends\""),
	}, "limit", "counted", "left")
}

// assetScopeSchema is a ScopeStatus of a declared asset, in its units.
func assetScopeSchema(desc string) map[string]any {
	return object(desc, map[string]any{
		"limit":   decimal("The budget's limit"),
		"counted": decimal("What counts against it now"),
		"left":    decimal("What it still allows"),
		"window":  str("How the day is measured: \"rolling 24 hours\" or \"calendar day in <time zone>\""),
		"resets":  str("When it resets: an RFC 3339 time (a calendar day)"),
	}, "limit", "counted", "left")
}

// tipScopeSchema is the tip budget's ScopeStatus, in the tipping asset
// (USDC, or one declared under assets:), which symbol names.
func tipScopeSchema(desc string) map[string]any {
	return object(desc, map[string]any{
		"limit":   decimal("The budget's limit"),
		"counted": decimal("What counts against it now: settled, in-flight, unknown and refused tips"),
		"left":    decimal("What it still allows"),
		"symbol":  str("The tipping asset's symbol, such as USDC: the unit of limit, counted and left"),
		"window":  str("How the day is measured: \"rolling 24 hours\" or \"calendar day in <time zone>\""),
		"resets":  str("When it resets: an RFC 3339 time (a calendar day)"),
	}, "limit", "counted", "left", "symbol")
}

// walletOutputSchema is x402_wallet's outputSchema (WalletStatus).
var walletOutputSchema = mustJSON(object("", map[string]any{
	"address": str("The paying wallet's first key's address (the EVM key's 0x address, when it has one)"),
	"keys": map[string]any{"type": "array", "description": "The wallet's keys, one per network family, EVM first",
		"items": object("", map[string]any{
			"family":    str("The key's network family: EVM or Solana"),
			"address":   str("The key's address: 0x and 40 hex digits (EVM), base58 (Solana)"),
			"keySource": str("Where the key lives, as `x402-mcp wallet show` says it: an environment variable's name, a key file, keypair file or keystore's path, an OS keychain entry (service/account), a clef endpoint or an AWS KMS key id; never the key, a passphrase or a credential"),
			"networks": map[string]any{"type": "array", "description": "The allowed networks this key pays on",
				"items": object("", map[string]any{
					"id":   str("CAIP-2 network id"),
					"name": str("The network's name"),
				}, "id", "name")},
		}, "family", "address", "networks")},
	"networks": map[string]any{"type": "array", "description": "The networks the wallet may pay on",
		"items": object("", map[string]any{
			"id":   str("CAIP-2 network id, such as eip155:8453"),
			"name": str("The network's name, such as Base"),
		}, "id", "name")},
	"perCallCap": usdc("The most any single payment may be"),
	"budget": object("The budgets and what counts against them: to an admin the gateway's (every payment), to any other principal its own (its own payments)", map[string]any{
		"of":         enum("Whose budgets these are: gateway (every principal's payments count) or principal (the caller's own; the gateway's shared budgets also apply and are not shown)", "gateway", "principal"),
		"total":      limit("budget.total: the most the ledger may ever count, in all"),
		"settled":    usdc("What the ledger counts as settled"),
		"pending":    usdc("What the ledger counts that is not settled: reserved, signed, unknown or rejected payments, each counted until reconciliation proves it settled or unused"),
		"left":       limit("What budget.total still allows"),
		"payments":   integer("How many payments and tips the ledger holds", 0),
		"perDay":     scopeSchema("budget.per_day, when set"),
		"perSession": scopeSchema("budget.per_session for this session, when set"),
		"perTool":    usdc("budget.per_tool: the default lifetime limit of each tool, when set"),
		"perHost":    usdc("budget.per_host: the lifetime limit of each upstream host, when set"),
		"perNetwork": map[string]any{"type": "object", "description": "budget.per_network: the lifetime limit of each network (CAIP-2 id), when set",
			"additionalProperties": usdc("The network's limit")},
		"tipsPerDay": tipScopeSchema("tipping.per_day: the tip budget, when tipping is on, in the tipping asset"),
	}, "of", "total", "settled", "pending", "left", "payments"),
	"principal":  principalSchema("The caller: the principal its payments are booked to"),
	"principals": map[string]any{"type": "array", "description": "Every principal of the HTTP transport and what it spent (admins only)", "items": principalSchema("")},
	"assets": map[string]any{"type": "array", "description": "The declared assets other than USDC, each with its own cap and budget, in its own units",
		"items": object("", map[string]any{
			"symbol":     str("The asset's symbol"),
			"decimals":   integer("The asset's decimals", 0),
			"network":    str("CAIP-2 network id"),
			"address":    str("The token's 0x address"),
			"perCallCap": decimal("The most any single payment in this asset may be"),
			"total":      decimal("The asset's budget.total"),
			"settled":    decimal("What the ledger counts as settled in this asset"),
			"pending":    decimal("What the ledger counts in this asset that is not settled"),
			"left":       decimal("What the asset's budget.total still allows"),
			"payments":   integer("How many payments in this asset the ledger holds", 0),
			"perDay":     assetScopeSchema("The asset's budget.per_day, when set"),
		}, "symbol", "decimals", "network", "address", "total", "settled", "pending", "left", "payments")},
	"noRpc": map[string]any{"type": "array", "description": "The allowed networks (CAIP-2 ids) without an rpc endpoint in the catalog: payments there that a seller refused, or whose outcome is unknown, stay counted until `x402-mcp ledger reconcile` can reach a chain",
		"items": str("CAIP-2 network id")},
}, "address", "keys", "networks", "perCallCap", "budget", "principal"))

// principalSchema is a PrincipalStatus.
func principalSchema(desc string) map[string]any {
	return object(desc, map[string]any{
		"name":     str("The principal's name"),
		"admin":    boolean("An admin sees every principal's payments and budgets"),
		"tools":    map[string]any{"type": "array", "description": "The only tools it may call (absent: every tool)", "items": str("A tool name")},
		"settled":  usdc("Its settled payments"),
		"pending":  usdc("Its payments not settled: reserved, signed, unknown or rejected, each counted until reconciliation proves it settled or unused"),
		"payments": integer("How many of its payments settled", 0),
		"total":    scopeSchema("Its own budget.total, when set"),
		"perDay":   scopeSchema("Its own budget.per_day, when set"),
		"perTool":  usdc("Its own lifetime limit of each tool, when set"),
	}, "name", "admin", "settled", "pending", "payments")
}

// historyStates are the ledger states x402_spend_history reports.
var historyStates = []string{
	string(payments.StateReserved), string(payments.StateSigned), string(payments.StateSettled),
	string(payments.StateRejected), string(payments.StateUnknown), string(payments.StateReleased),
}

// historyOutputSchema is x402_spend_history's outputSchema ({payments:
// []HistoryEntry}).
var historyOutputSchema = mustJSON(object("", map[string]any{
	"payments": map[string]any{"type": "array", "description": "The payments and tips, newest first",
		"items": object("", map[string]any{
			"id":           str("The ledger id"),
			"time":         str("When it was reserved (RFC 3339, UTC)"),
			"kind":         enum("payment: a paid tool call; tip: x402_tip", payments.KindPayment, payments.KindTip),
			"tool":         str("The tool that paid"),
			"amount":       decimal("The amount"),
			"amountAtomic": map[string]any{"type": "string", "pattern": "^[0-9]+$", "description": "The amount in atomic units (1 USDC = 1000000)"},
			"symbol":       str("The asset's symbol, such as USDC"),
			"decimals":     integer("The asset's decimals (USDC: 6)", 0),
			"asset":        str("The token's 0x address"),
			"state":        enum("settled: paid; unknown: the outcome is not known yet (do not pay again for that call); rejected: the seller refused it without reporting a settlement (it counts until reconciliation proves it unused); released: never signed or proven unused; reserved, signed: in flight", historyStates...),
			"network":      str("CAIP-2 network id"),
			"payTo":        str("The payee's 0x address"),
			"payer":        str("The paying wallet's 0x address, when the seller reported it"),
			"transaction":  str("The settlement's transaction hash, when known"),
			"resource":     str("What was paid for: the request (method and URL without secrets), or a tip's recipient"),
			"reason":       str("Why it was rejected, released or unknown"),
			"reconciled":   boolean("Its state was read from the chain"),
			"note":         str("A tip's note"),
			"principal":    str("Who made the call"),
		}, "id", "time", "kind", "tool", "amount", "amountAtomic", "symbol", "decimals", "state", "network", "payTo")},
}, "payments"))

// quoteOutputSchema is x402_quote's outputSchema (quoteOut).
var quoteOutputSchema = mustJSON(object("", map[string]any{
	"tool":           str("The tool priced"),
	"free":           boolean("The upstream answered without asking for payment"),
	"status":         integer("The upstream's HTTP status", 100),
	"x402Version":    integer("The seller's x402 version (1 or 2)", 1),
	"maxPrice":       decimal("The tool's max_price, in its currency"),
	"currency":       str("The symbol of the tool's asset (maxPrice and price), such as USDC"),
	"wouldPay":       boolean("A call now would pay (policy and every budget)"),
	"price":          decimal("The price of the option a call would pay, in the tool's currency"),
	"network":        str("That option's network"),
	"payTo":          str("That option's payee"),
	"reason":         str("Why a call would not pay"),
	"budgetLeft":     decimalOrUnlimited("What the budget.total of the option's asset still allows"),
	"budgetCurrency": str("The symbol of the asset budgetLeft is in"),
	"optionsOffered": integer("How many payment options the seller offered", 0),
	"options": map[string]any{"type": "array", "description": "The payment options the seller offered, judged by the policy: at most 10, the one a call would pay and the first others (optionsOffered counts them all)",
		"items": object("", map[string]any{
			"index":    integer("Its position in the seller's accepts", 0),
			"scheme":   str("x402 scheme, such as exact"),
			"network":  str("Network, as the seller wrote it"),
			"price":    str("Price as a decimal of its asset (symbol), or the seller's atomic amount when it is not one"),
			"symbol":   str("The asset's symbol, when x402-mcp knows the asset"),
			"decimals": integer("The asset's decimals, when x402-mcp knows the asset", 0),
			"payTo":    str("Payee"),
			"asset":    str("Token address"),
			"payable":  boolean("The policy allows paying it"),
			"reason":   str("Why not"),
		}, "index", "scheme", "network", "price", "payTo", "asset", "payable")},
}, "tool", "free", "status", "maxPrice", "currency", "wouldPay", "budgetLeft", "budgetCurrency"))
