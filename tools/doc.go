// Package tools is x402-mcp's catalog: it loads and validates registry.yaml
// (Load, Parse), turns each entry into an MCP tool (Build: its name, its
// description with the price, the JSON Schema of its arguments, annotations
// that make hosts ask before spending), turns a call's arguments into an
// *http.Request (Entry.NewRequest), pays through a Payer, and shapes the
// upstream's answer into a tool result with the receipt. Entries of kind:
// mcp list a remote MCP server's tools under a prefix (BuildRemote) and pay
// them through an Authorizer. Package tools/discover proposes entries from
// sellers' 402s and discovery listings.
//
// It reads the operator's policy, budgets and tipping section
// (Registry.Policy, Registry.Tipping) but enforces none of them and holds no
// key: *payments.Client, the production Payer and Authorizer, does.
//
// Rules the package keeps:
//   - The file is decoded strictly (unknown keys and duplicate keys are
//     errors) and validation reports every mistake at once, each naming the
//     file, the tool and the field, and how to fix it.
//   - Every amount in the file is decimal USDC parsed exactly. A price the
//     model writes (an amount_from argument, x402_tip's amount) follows one
//     rule, ParseAmountArg: a JSON string matching AmountPattern, more than 0;
//     a JSON number is refused.
//   - ${ENV} references in url and headers are expanded when a request is
//     built, never at load. Expanded header values never appear in an error,
//     a log line or a tool result; a URL is shown and booked without its
//     query string and user info.
//   - Arguments are checked against the entry's schema before anything is
//     sent; a bad one is an *ArgumentError naming each argument and the fix,
//     with nothing sent or charged.
//   - What the model sees of an answer is capped at max_result_bytes; anything
//     cut says so. Every result of a paid tool carries x402/charged in _meta
//     ("charged", "not charged" or "unknown") and says it in words, with the
//     receipt when a payment was made.
//   - A failure the model or the operator can act on is a tool result with
//     isError set (ErrorResult); anything else is logged and shown as
//     "internal error".
package tools
