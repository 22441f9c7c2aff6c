// Package tools is x402-mcp's catalog: it loads and validates registry.yaml,
// turns each entry into an MCP tool (name, description with its price, JSON
// Schema for its arguments), turns a call's arguments into an *http.Request,
// and shapes the upstream's answer into a tool result.
//
// It knows nothing of keys or budgets: paying goes through a Payer (in
// production *payments.Client), and every result says whether money moved.
//
// Rules the package keeps:
//   - Validation reports every mistake in the file at once, each naming the
//     file, the tool and the field, and how to fix it.
//   - Header values from the registry (API keys, usually through ${ENV}) are
//     expanded only when a request is built, and never appear in an error, a
//     log line or a tool result. The same holds for the expanded URL.
//   - What the model sees is capped at max_result_bytes; anything cut says so.
//   - A failure the model or the operator can act on is a tool result with
//     isError set; anything else is logged and shown as "internal error".
package tools
