// Package localseller is a local paid HTTP API and a facilitator that really
// verifies x402 payments, for end-to-end tests, benchmarks and the
// `x402-mcp demo` and `x402-mcp seller` commands. Everything runs in process,
// on loopback and offline: the facilitator keeps an in-memory token ledger
// instead of a chain, unless it is given one (see Settling on a chain).
//
// # Facilitator
//
// A Facilitator settles the exact scheme with EIP-3009 authorizations for one
// asset (default Base Sepolia USDC: eip155:84532,
// 0x036CbD53842c5426634e7929541eC2318f3dCF7e, EIP-712 "USDC" version "2").
// Verify checks, in this order, with the reason codes of x402 §6: version,
// scheme (unsupported_scheme, invalid_scheme), network (invalid_network), in
// v2 that `accepted` is the same JSON as the requirement
// (invalid_payment_requirements), the requirement's asset and EIP-712 name
// and version, the authorization's form (invalid_payload), payee
// (invalid_exact_evm_payload_recipient_mismatch), value equal to the price
// (…_authorization_value_mismatch, in v1 as well), validAfter ≤ now
// (…_valid_after), validBefore > now+6s (…_valid_before), the signature by
// ecrecover over the EIP-712 digest (invalid_exact_evm_payload_signature),
// the nonce unused for the payer (invalid_exact_evm_nonce_already_used) and
// the balance (invalid_exact_evm_insufficient_balance). Settle repeats the
// checks and moves the balance under one lock: of two settles of one nonce
// exactly one succeeds. Its transaction hash is keccak256(nonce ‖ payer).
// Handler serves POST /verify, POST /settle and GET /supported.
//
// # Settling on a chain
//
// FacilitatorConfig.Chain makes the facilitator settle on an EVM chain
// instead: internal/simchain.Sim (go-ethereum's simulated chain, eip155:1337,
// with a real EIP-3009 token) implements Chain; this package does not import
// it (simchain links an Ethereum node, which the x402-mcp binary leaves out
// unless it is built with -tags simchain). The facilitator's network, asset, name and version become the chain
// token's. Every check above still runs; the nonce and the balance are read
// on chain (authorizationState, balanceOf); Settle sends
// transferWithAuthorization, waits for it to be mined and answers with its
// transaction hash. A transfer the chain refuses fails the settlement with
// the nonce or balance reason when the chain's state explains it, else
// invalid_exact_evm_transaction_failed. Fund mints, Balance and NonceUsed
// read the chain (they panic if the chain fails; Chain() has the
// error-returning calls). Settlements through the facilitator run one at a
// time.
//
//	sim, err := simchain.Start(ctx, simchain.Options{})
//	run, err := localseller.Start(localseller.Config{
//		Facilitator: localseller.NewFacilitator(localseller.FacilitatorConfig{Chain: sim}),
//	})
//	run.Facilitator.Fund(payer, 1_000_000) // mints 1 USDC on the sim
//
// # Permit2 and upto
//
// A chain that is also a Permit2Chain (internal/simchain's Token: any of
// its tokens, with Permit2 and the x402 proxies at their canonical
// addresses) settles Permit2 payments too. Verify and Settle take a
// payload with a permit2Authorization (or any upto payment) down that path,
// with the checks of the spec (specs/schemes/exact/scheme_exact_evm.md
// Phase 3, scheme_upto_evm.md): `accepted` is the requirement (at an upto
// settlement, but for the amount), the signature recovers to the payer
// over Permit2's EIP-712 digest (invalid_permit2_signature), the spender is
// the scheme's x402 proxy (invalid_permit2_spender), the token
// (invalid_permit2_token_mismatch), the witness's payee
// (invalid_permit2_recipient_mismatch), the permitted amount is the price
// (invalid_permit2_amount_mismatch; at an upto settlement the requirement's
// amount is the actual one, at most the permitted maximum, else
// invalid_upto_evm_payload_settlement_exceeds_amount), the deadline is more
// than 6 s away (permit2_deadline_expired), validAfter has passed
// (invalid_permit2_valid_after), an upto witness names this facilitator
// (invalid_permit2_facilitator_mismatch), and on chain the nonce is unused
// in Permit2's nonceBitmap (invalid_permit2_nonce_already_used), the
// allowance to Permit2 covers the permitted amount (else
// permit2_allowance_required, which the seller answers with 412
// Precondition Failed), unless the payload attaches an EIP-2612 permit of
// Permit2 for exactly it (eip2612GasSponsoring, whose nonce must be the
// token's next), and the balance covers it (insufficient_funds). Settle
// sends the proxy's settle (settleWithPermit with the permit) from the
// relayer, which is the facilitator address /supported reports (with an
// upto kind whose extra.facilitatorAddress it is). An upto settlement of 0
// sends nothing and answers success with no transaction and amount "0".
// FacilitatorConfig.Method is what the seller's accepts write in
// extra.assetTransferMethod (none by default), and GasSponsoring makes its
// challenges declare eip2612GasSponsoring. Settlement.Value is the amount
// that moved. Without a Permit2 chain, Permit2 and upto payments are
// unsupported_scheme.
//
// A client pays it with eip155:1337 in its allowed networks and the token
// declared and pinned (payments.Policy.Assets and Limit.Asset and
// Currency; assets: and `asset:` in registry.yaml): x402-mcp knows no USDC
// on that chain.
//
// # Solana
//
// Config.Solana (SolanaConfig) makes the seller offer every exact option on
// Solana too, at the same price: after the EVM option (or instead of it,
// with Only), paid to its base58 PayTo in its Mint (default devnet USDC),
// with the facilitator's fee payer in extra (and any Extra, such as a
// recentBlockhash). Solana payments go to SolanaConfig.Facilitator, a
// Settler: Remote, a facilitator over HTTP (the reference @x402/svm one that
// test/solana runs on Surfnet), or a SolanaFacilitator.
//
// A SolanaFacilitator keeps a token's balances in memory and checks every
// payment for real: svm.Verify (its own fee payer, the payer's ed25519
// signature, the instructions, the transfer of exactly the price into
// payTo's token account, the memo), then what the reference facilitator's
// simulation checks (a blockhash it issued and still valid, the payer's
// balance, the payee's account) and a transaction landed before
// (duplicate_settlement). Settle signs as fee payer; the transaction's id
// is that signature. Blocks follow the clock (one per SlotTime; a blockhash
// lives 150). The seller serves its facilitator API under
// /solana/facilitator/ and its chain as Solana JSON-RPC at POST
// /solana/rpc, which x402-mcp reads the mint, balances, blockhashes and
// landed transactions from as from a node (rpc: solana-devnet: <seller>/solana/rpc).
//
// # Seller routes
//
// Prices are the defaults (Config.Prices overrides them); all are paid to
// Config.PayTo (default DefaultPayTo, 0x209693Bc6afc0C5328bA36FaF03C514EF312287C)
// on the facilitator's network and asset, maxTimeoutSeconds 300.
//
//	GET  /                              free: JSON list of routes and prices
//	GET  /free/ping                     free: {"ok":true,"source":…}
//	GET  /v2/weather/{city}?units=metric|imperial   v2, 0.001: {"city","units","current":{"tempC","conditions","humidity","tempF"?},"source"}
//	POST /v2/summarize {"text":"…"}     v2, 0.01:  {"summary": first sentence, "words": n, "source"}
//	GET  /v1/quote?symbol=ABC           v1, 0.002: {"symbol","price","currency","source"}
//	GET  /v2/text                       v2, 0.001: text/plain
//	GET  /v2/image                      v2, 0.001: image/png, 16x16
//	GET  /v2/idempotent                 v2, 0.001: requires the payment-identifier extension
//	GET  /v2/tip/{name}?amount=0.25     v2, pay what you want: asks exactly amount (0.000001 to 100);
//	                                    {"thanks","amount","amountAtomic","message","source"}; &inflate=1 asks double
//	GET  /v2/misbehave/{mode}           v2, 0.001 unless said: see below
//	GET  /v2/metered?units=N            v2 upto (a Permit2 chain only, else 501): at most 0.01 (Prices.Metered),
//	                                    settles N × 0.0001 up to it; {"units","charged","source"};
//	                                    &overreport=1 reports the maximum plus one (a seller fault),
//	                                    &overcharge=1 asks to settle the maximum plus one (refused),
//	                                    &noreceipt=1 settles and sends no PAYMENT-RESPONSE
//	POST /facilitator/verify, POST /facilitator/settle, GET /facilitator/supported
//
// Answers are deterministic (the weather and the quote follow from the city
// and the symbol). Bad input (an unknown units value, a missing symbol, a
// summarize body without text) is refused with 400 before any payment is
// asked for.
//
// # Payment flow
//
// v2: an unpaid request gets 402 with PAYMENT-REQUIRED = base64 of
// {x402Version:2, error, resource:{url,description,mimeType}, accepts:[{scheme:"exact",
// network, amount, asset, payTo, maxTimeoutSeconds, extra:{name,version}}], extensions?}
// and the body {}. The payment comes in PAYMENT-SIGNATURE; its `accepted` must
// deep-equal one of the accepts ("No matching payment requirements"
// otherwise). The seller verifies, serves into a buffer, settles, and only then
// sends the body with PAYMENT-RESPONSE = base64 SettlementResponse. A failed
// verification answers 402 with a fresh challenge whose error is the
// facilitator's invalidReason; a failed settlement withholds the body and
// answers 402 with the challenge and PAYMENT-RESPONSE {success:false,
// errorReason}. A content answer of 400 or more is passed on unsettled.
//
// v1 (GET /v1/quote): the 402 body is {x402Version:1, error:"X-PAYMENT header is
// required", accepts:[{scheme, network:"base-sepolia", maxAmountRequired,
// resource, description, mimeType, outputSchema, payTo, maxTimeoutSeconds,
// asset, extra}]}; the payment comes in X-PAYMENT and is matched by scheme
// and network; the receipt goes in X-PAYMENT-RESPONSE.
//
// GET /v2/idempotent offers extensions["payment-identifier"] =
// {"info":{"required":true},"schema":{…}}. A payment without info.id (16–128
// of [A-Za-z0-9_-]) gets 400. The first settled payment for an id is
// remembered: the same id with the same payment replays that answer without
// settling again; the same id with a different payment gets 409.
// PaymentIDs lists the ids received.
//
// GET /v2/weather/{city} and POST /v2/summarize also offer
// extensions["bazaar"] = {"info":{"input":…,"output":…},"schema":…}
// (x402-protocol.md §7): the weather's query params and the summarize body
// schema, written as field schemas inside info.input (the schema part says
// only "an object"), and example outputs. GET /v1/quote describes its query
// in accepts[0].outputSchema.input, the v1 way.
//
// GET /v2/tip/{name}?amount=… is a pay-what-you-want (tip) route: the
// caller chooses the price, the 402 asks exactly it, and the paid answer
// thanks name for it. A name that is not 1 to 64 of [A-Za-z0-9_.-], or an
// amount that is not a decimal USDC amount from 0.000001 to 100, is refused
// with 400. With inflate=1 the seller misbehaves: it asks double the amount
// given (a client that pays only the amount it chose must refuse).
//
// # Discovery
//
// GET /discovery/resources?type=&limit=&offset= lists the paid, well-behaved
// routes (weather, summarize, quote, text, image) as a bazaar facilitator
// does: {x402Version:2, items:[{resource, type:"http", x402Version, accepts,
// lastUpdated, metadata, extensions?}], pagination:{limit, offset, total}}.
// GET /discovery/search?query=&cursor= returns the resources whose URL or
// description contains the query, two a page: {resources, pagination:{limit,
// cursor?}}; a cursor it cannot have given is refused with 400.
//
// # Misbehaviour modes
//
//	price_high          asks 5.00 USDC
//	switched_payee      payTo is SwitchedPayTo, not the seller's payee
//	unknown_network     network eip155:999999
//	bad_base64          PAYMENT-REQUIRED is not base64
//	bad_json            PAYMENT-REQUIRED is base64 of HTML
//	second_402          verifies a valid payment, then answers 402 again, unsettled
//	error_after_settle  settles, then 500 with a PAYMENT-RESPONSE success header
//	error_no_receipt    settles, then 502 with no receipt
//	huge_body           settles, then 200 with a 20 MiB text body
//	slow_body           settles, then 200 writing "tick\n" every 200ms for 60s or until the client goes
//	pending             settles (the money moves), then 200 with PAYMENT-RESPONSE
//	                    {success:false, errorReason:"settlement_pending", transaction}
//	no_receipt          settles, then 200 with no PAYMENT-RESPONSE
//	multi_accept        three accepts: scheme "streamed-magic", 0.05, and 0.001
//	drop_after_settle   settles, then closes the connection without answering; a
//	                    resend of the same payment gets 402 invalid_exact_evm_nonce_already_used
//	settle_then_402     a hostile seller: settles (the money moves), then answers 402 with a
//	                    fresh challenge, as second_402 does, as if it had refused the payment
//	deep_json           settles, then 200 with application/json of 10 MiB of "[" (nesting
//	                    that would overflow a recursive JSON parser's stack)
//
// # Counters
//
// Seller.PaymentHeadersSeen counts requests that carried PAYMENT-SIGNATURE or
// X-PAYMENT on any route (a refusal to pay leaves it unchanged);
// PaidCount(route) counts settlements per route; ReceivedPayments returns
// every payment header received, decoded; Config.OnPayment sees each as it
// arrives. Facilitator.SettledCount, SettledTotal and Settlements report
// what moved.
package localseller
