package tools

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/tidwall/gjson"
	"github.com/x402-mcp/x402-mcp/internal/plural"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/jsonlimit"
	"github.com/x402-mcp/x402-mcp/payments/x402"
)

// _meta keys of tools and tool results.
const (
	// MetaPrice (on a tool) holds the entry's price: maxPrice, maxPriceAtomic,
	// currency, networks and the pins.
	MetaPrice = "x402/price"
	// MetaCharged (on every result of a paid tool) is "charged", "not charged"
	// or "unknown".
	MetaCharged = "x402/charged"
	// MetaPaymentResponse holds the receipt when a payment was signed.
	MetaPaymentResponse = x402.MetaPaymentResponse
	// MetaError holds {code, charged} when a payment failed.
	MetaError = "x402/error"
)

// excerptBytes caps the body excerpt shown with an upstream error.
const excerptBytes = 500

// Shape turns an upstream answer into a tool result, showing the model at
// most maxBytes of it (DefaultMaxResultBytes when maxBytes ≤ 0). A 2xx JSON
// answer becomes structured content (the `result` path's value, wrapped as
// {"result": v} when not an object) plus its compact text; text becomes
// text; an image becomes image content; anything else is described, not
// shown. A non-2xx answer is an error result that says what happened to the
// money. The receipt, when there is one, goes in _meta and one line of text.
func Shape(e *Entry, res *payments.Result, maxBytes int) *mcp.CallToolResult {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxResultBytes
	}
	charged := res.Charged
	if charged == "" {
		charged = payments.NotCharged
	}
	var out *mcp.CallToolResult
	if res.Status < 200 || res.Status > 299 {
		out = upstreamFailure(res, charged)
	} else {
		out = shapeBody(e, res, maxBytes)
		if res.Receipt != nil {
			word := "Charged and delivered."
			switch {
			case charged != payments.Charged:
				word = "Payment outcome: " + string(charged) + "."
			case res.Receipt.State == "unconfirmed":
				word = "Delivered; the payment is counted as charged until reconciliation confirms it."
			case res.Receipt.State == "pending":
				word = "Delivered; the payment is counted as charged while its settlement is pending."
			}
			out.Content = append(out.Content, mcp.NewTextContent(res.Receipt.Line()+" "+word))
		}
	}
	out.Meta = resultMeta(charged, res.Receipt)
	return out
}

// shapeBody renders a 2xx body by media type.
func shapeBody(e *Entry, res *payments.Result, maxBytes int) *mcp.CallToolResult {
	body := res.Body
	mediaType := mediaTypeOf(res.Header.Get("Content-Type"))
	// Check the JSON before gjson sees it: gjson recurses once per level of
	// nesting, and deep enough nesting overflows the stack (a fatal error).
	var jsonErr error
	if isJSON(mediaType) || mediaType == "" && len(bytes.TrimSpace(body)) > 0 {
		jsonErr = jsonlimit.Check(body)
		if mediaType == "" && jsonErr == nil {
			mediaType = "application/json"
		}
	}
	var notes []string
	var deep *jsonlimit.DepthError
	if isJSON(mediaType) && errors.As(jsonErr, &deep) {
		notes = append(notes, fmt.Sprintf("[the upstream's JSON nests deeper than %d levels, so it is shown as text, not as structured content]", deep.Max))
	}
	if res.Truncated {
		notes = append(notes, fmt.Sprintf("[the upstream sent more than the %d bytes x402-mcp reads; the rest was not downloaded]", len(body)))
	}
	if res.BodyErr != nil {
		notes = append(notes, "[the upstream's answer broke off while it was being read; what is shown may be incomplete]")
	}
	out := &mcp.CallToolResult{}
	text := func(s string) { out.Content = append(out.Content, mcp.NewTextContent(s)) }

	switch {
	case len(body) == 0:
		text(fmt.Sprintf("The upstream answered %s with an empty body.", statusText(res.Status)))
	case isJSON(mediaType) && jsonErr == nil:
		shapeJSON(out, e, body, maxBytes)
	case isImage(mediaType):
		if len(body) > maxBytes || res.Truncated {
			text(fmt.Sprintf("The upstream returned a %d-byte %s image, over the %d-byte limit of what the model is shown (max_result_bytes); not shown.", len(body), mediaType, maxBytes))
			break
		}
		out.Content = append(out.Content,
			mcp.NewImageContent(base64.StdEncoding.EncodeToString(body), mediaType),
			mcp.NewTextContent(fmt.Sprintf("%s image, %s.", mediaType, plural.Count(len(body), "byte", "bytes"))))
	case isText(mediaType) || mediaType == "" && utf8.Valid(body):
		text(capText(strings.ToValidUTF8(string(body), "\uFFFD"), maxBytes))
	default:
		if mediaType == "" {
			mediaType = "an unknown type"
		}
		text(fmt.Sprintf("The upstream returned %s of %s; not shown (x402-mcp shows JSON, text and images).", plural.Count(len(body), "byte", "bytes"), mediaType))
	}
	for _, n := range notes {
		text(n)
	}
	return out
}

// shapeJSON renders a valid JSON body, picking the entry's result path.
func shapeJSON(out *mcp.CallToolResult, e *Entry, body []byte, maxBytes int) {
	raw := body
	if e != nil && e.Result != "" {
		r := gjson.GetBytes(body, e.Result)
		if !r.Exists() {
			note := fmt.Sprintf("The result path %q matched nothing in the upstream's JSON answer; the whole answer follows.", e.Result)
			out.Content = append(out.Content, mcp.NewTextContent(note), mcp.NewTextContent(capText(compactJSON(body), maxBytes)))
			return
		}
		raw = []byte(r.Raw)
	}
	compact := compactJSON(raw)
	if len(compact) > maxBytes {
		// Cut JSON is not JSON: send text only.
		out.Content = append(out.Content, mcp.NewTextContent(capText(compact, maxBytes)))
		return
	}
	structured := compact
	if !strings.HasPrefix(compact, "{") {
		structured = `{"result":` + compact + `}`
	}
	out.StructuredContent = json.RawMessage(structured)
	out.Content = append(out.Content, mcp.NewTextContent(compact))
}

// compactJSON removes insignificant space, keeping numbers as written.
func compactJSON(b []byte) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, bytes.TrimSpace(b)); err != nil {
		return string(bytes.TrimSpace(b))
	}
	return buf.String()
}

// capText cuts s to max bytes on a rune boundary and says so.
func capText(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := truncateUTF8(s, max)
	return fmt.Sprintf("%s\n[truncated: showing %d of %d bytes; raise max_result_bytes or narrow the `result` path]", cut, len(cut), len(s))
}

// upstreamFailure describes a non-2xx answer and what happened to the money.
func upstreamFailure(res *payments.Result, charged payments.Charge) *mcp.CallToolResult {
	status := statusText(res.Status)
	var msg string
	switch charged {
	case payments.Charged:
		msg = fmt.Sprintf("Charged, nothing delivered: the payment settled (%s) but the upstream answered %s. Do not retry blindly: a retry is a new payment. Tell the user; the receipt is the proof to ask the seller for a refund.",
			receiptSummary(res.Receipt), status)
	case payments.ChargeUnknown:
		msg = fmt.Sprintf("Outcome unknown: a signed payment was sent (%s) and the upstream answered %s. The payment may have settled. Do not retry blindly: a retry could pay twice. Check the spend history or ask the operator to reconcile.",
			receiptSummary(res.Receipt), status)
	default:
		msg = fmt.Sprintf("Not charged: the upstream answered %s and no payment was made.", status)
		switch {
		case res.Status >= 500:
			msg += " The upstream failed; retrying later may work."
		case res.Status == http.StatusPaymentRequired:
			msg += " It asked for payment again."
		case res.Status >= 400:
			msg += " Check the arguments."
		case res.Status >= 300:
			if loc := res.Header.Get("Location"); loc != "" {
				msg += " It redirects to " + payments.Sanitize(loc, 200) + ", which x402-mcp does not follow."
			}
		}
	}
	if ex := bodyExcerpt(res); ex != "" {
		msg += "\nUpstream said: " + ex
	}
	return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{mcp.NewTextContent(msg)}}
}

func receiptSummary(rc *payments.Receipt) string {
	if rc == nil {
		return "no receipt"
	}
	return "receipt: " + rc.Line()
}

// bodyExcerpt returns up to excerptBytes of a textual body, made safe to show.
func bodyExcerpt(res *payments.Result) string {
	body := bytes.TrimSpace(res.Body)
	if len(body) == 0 {
		return ""
	}
	mt := mediaTypeOf(res.Header.Get("Content-Type"))
	if !(isJSON(mt) || isText(mt) || mt == "" && utf8.Valid(body)) {
		if mt == "" {
			mt = "an unknown type"
		}
		return fmt.Sprintf("(%s of %s)", plural.Count(len(body), "byte", "bytes"), mt)
	}
	if isJSON(mt) && jsonlimit.Valid(body) {
		body = []byte(compactJSON(body))
	}
	return payments.Sanitize(string(body), excerptBytes)
}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return fmt.Sprintf("%d %s", code, t)
	}
	return fmt.Sprint(code)
}

// resultMeta is the _meta of a tool result: the charge and the receipt.
func resultMeta(charged payments.Charge, rc *payments.Receipt) *mcp.Meta {
	m := map[string]any{MetaCharged: string(charged)}
	if rc != nil {
		m[MetaPaymentResponse] = receiptMeta(rc, charged)
	}
	return &mcp.Meta{AdditionalFields: m}
}

// PaidMeta is the _meta of a result outside the catalog that paid (a tip):
// x402/charged and the x402/payment-response receipt, with extra fields
// added to the receipt.
func PaidMeta(charged payments.Charge, rc *payments.Receipt, extra map[string]any) *mcp.Meta {
	m := resultMeta(charged, rc)
	if pr, ok := m.AdditionalFields[MetaPaymentResponse].(map[string]any); ok {
		for k, v := range extra {
			pr[k] = v
		}
	}
	return m
}

// receiptMeta is the x402/payment-response object.
func receiptMeta(rc *payments.Receipt, charged payments.Charge) map[string]any {
	m := map[string]any{
		"success":      charged == payments.Charged,
		"transaction":  rc.Transaction,
		"network":      rc.Network,
		"payer":        rc.Payer,
		"amount":       rc.Currency().Decimal(rc.Amount),
		"amountAtomic": rc.Amount.Atomic(),
		"symbol":       rc.Currency().Symbol,
		"decimals":     rc.Currency().Decimals,
		"payTo":        rc.PayTo,
		"asset":        rc.Asset,
		"state":        rc.State,
		"ledgerId":     rc.LedgerID,
		"x402Version":  rc.X402Version,
	}
	if rc.Maximum != 0 {
		// upto: amount is what settled, maximum what was signed.
		m["maximum"], m["maximumAtomic"] = rc.Currency().Decimal(rc.Maximum), rc.Maximum.Atomic()
	}
	if rc.SellerFault != "" {
		m["sellerFault"] = rc.SellerFault
	}
	return m
}

// ErrorResult turns a failed call into a tool result the model can act on.
// A *payments.Error shows its safe message after "Payment <outcome>: ", with
// {code, charged} and any receipt in _meta. An *ArgumentError shows
// "invalid arguments: …" and a *ConfigError says what the operator must fix;
// neither was charged. Anything else is logged and shown as "internal error".
func ErrorResult(err error) *mcp.CallToolResult {
	if pe, ok := payments.AsError(err); ok {
		charged := pe.Charged
		if charged == "" {
			charged = payments.ChargeUnknown // an error that does not say must not be read as free
		}
		if pe.Code == payments.CodeInternal {
			// Only bugs are logged here: transport errors can quote the
			// expanded URL, which may hold a secret from the environment.
			slog.Default().Error("payment failed with an internal error", "charged", string(charged), "err", pe.Err)
		}
		text := "Payment " + chargeWords(charged) + " (" + string(pe.Code) + "): " + pe.Message
		content := []mcp.Content{mcp.NewTextContent(text)}
		if pe.Receipt != nil {
			content = append(content, mcp.NewTextContent(pe.Receipt.Line()))
		}
		meta := resultMeta(charged, pe.Receipt)
		xe := map[string]any{"code": string(pe.Code), "charged": string(charged)}
		if pe.Over != nil {
			xe["budget"] = pe.Over // which budget refused, counted, limit, price, when it resets
		}
		meta.AdditionalFields[MetaError] = xe
		return &mcp.CallToolResult{Result: mcp.Result{Meta: meta}, IsError: true, Content: content}
	}
	notCharged := resultMeta(payments.NotCharged, nil)
	if ae, ok := AsArgumentError(err); ok {
		return &mcp.CallToolResult{Result: mcp.Result{Meta: notCharged}, IsError: true,
			Content: []mcp.Content{mcp.NewTextContent(ae.Error() + ". Not charged: nothing was sent; fix the arguments and call again.")}}
	}
	if ce, ok := asConfigError(err); ok {
		return &mcp.CallToolResult{Result: mcp.Result{Meta: notCharged}, IsError: true,
			Content: []mcp.Content{mcp.NewTextContent("Configuration error (not charged): " + ce.Error() + " Tell the operator; retrying will not help.")}}
	}
	slog.Default().Error("tool call failed", "err", err)
	return &mcp.CallToolResult{Result: mcp.Result{Meta: notCharged}, IsError: true,
		Content: []mcp.Content{mcp.NewTextContent("internal error (not charged)")}}
}

func asConfigError(err error) (*ConfigError, bool) {
	var ce *ConfigError
	ok := errors.As(err, &ce)
	return ce, ok
}

func chargeWords(c payments.Charge) string {
	switch c {
	case payments.NotCharged:
		return "not charged"
	case payments.Charged:
		return "charged"
	default:
		return "outcome unknown"
	}
}

// mediaTypeOf returns the lower-case type/subtype of a Content-Type
// header, or "" when there is none or it is not a well-formed media type.
// The header is the seller's text: it reaches the model's text only in this
// form, never long, binary or with control characters.
func mediaTypeOf(ct string) string {
	if ct == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		mt, _, _ = strings.Cut(ct, ";")
	}
	mt = strings.ToLower(strings.TrimSpace(mt))
	if !mediaTypeRE.MatchString(mt) {
		return ""
	}
	return mt
}

// mediaTypeRE is a type/subtype of RFC 6838 names (at most 127 characters
// each, from a restricted set).
var mediaTypeRE = regexp.MustCompile(`^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$`)

func isJSON(mt string) bool {
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

func isImage(mt string) bool {
	// SVG is XML text, and many hosts do not render it as an image.
	return strings.HasPrefix(mt, "image/") && mt != "image/svg+xml"
}

func isText(mt string) bool {
	if strings.HasPrefix(mt, "text/") || isJSON(mt) || strings.HasSuffix(mt, "+xml") || strings.HasSuffix(mt, "+yaml") {
		return true
	}
	switch mt {
	case "application/xml", "application/yaml", "application/x-yaml", "application/javascript",
		"application/ecmascript", "application/x-www-form-urlencoded", "application/x-ndjson",
		"application/ndjson", "application/jsonl", "application/csv", "image/svg+xml":
		return true
	}
	return false
}

func gjsonModifierExists(name string) bool { return gjson.ModifierExists(name, nil) }
