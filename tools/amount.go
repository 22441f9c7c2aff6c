package tools

import (
	"errors"
	"fmt"
	"slices"

	"github.com/x402-mcp/x402-mcp/payments"
)

// Tips and pay-what-you-want endpoints: an entry with `amount_from: <arg>`
// takes its price from that argument. The argument is a decimal amount of
// the entry's currency (USDC, or the asset it pins) in a string, parsed
// exactly; it is sent to the upstream as its param says (canonical form:
// "0.250" goes as "0.25"), and the payment client pays only a 402 asking
// exactly that amount (payments.Limit's ExactAmount), under every cap,
// budget and approval threshold.

// AmountPattern is the JSON Schema pattern of a price argument in USDC: a
// decimal amount with at most six decimals (another asset's is its
// Currency.Pattern).
const AmountPattern = `^[0-9]+(\.[0-9]{1,6})?$`

// argAmount parses a price argument: a positive decimal amount of cur.
func argAmount(cur payments.Currency, s string) (payments.Amount, error) {
	a, err := parseMoney(cur, s)
	if err != nil {
		return 0, err
	}
	if a == 0 {
		return 0, errors.New(`0 pays nothing: write the amount to pay, such as "0.01"`)
	}
	return a, nil
}

// checkAmount validates a price argument's value (see field.check).
func (f *field) checkAmount(v any) string {
	sym := f.cur.Symbol
	s, ok := v.(string)
	if !ok {
		if t := jsonTypeOf(v); t == "number" || t == "integer" {
			return fmt.Sprintf("%q must be a decimal %s amount written as a string, such as \"0.01\", not the number %s (JSON numbers are not exact money)", f.name, sym, describe(v))
		}
		return fmt.Sprintf("%q must be a decimal %s amount written as a string, such as \"0.01\", got %s", f.name, sym, describeType(v))
	}
	a, err := argAmount(f.cur, s)
	if err != nil {
		return fmt.Sprintf("%q is the price of this call and must be a decimal %s amount such as \"0.01\": %v", f.name, sym, err)
	}
	if len(f.enum) > 0 && !inEnum(f.cur.Decimal(a), f.enum) {
		return fmt.Sprintf("%q must be one of %s, got %s", f.name, enumList(f.enum), describe(v))
	}
	return ""
}

// amountExample is an example price for a description: 0.01, or the cap
// when that is lower.
func amountExample(cur payments.Currency, maxPrice payments.Amount) string {
	ex, err := cur.Parse("0.01")
	if err != nil {
		ex = 1 // a token with fewer than two decimals: its smallest unit
	}
	if maxPrice != 0 && maxPrice < ex {
		ex = maxPrice
	}
	return cur.Decimal(ex)
}

// amountDescription describes a price argument added by amount_from.
func amountDescription(cur payments.Currency, maxPrice payments.Amount) string {
	limit := ""
	if maxPrice != 0 {
		limit = fmt.Sprintf(", at most %s (the tool's max_price)", cur.Format(maxPrice))
	}
	return fmt.Sprintf("Amount to pay, in %s, as a decimal string such as %q%s. The seller must ask exactly this amount or nothing is paid; the operator's budgets and approval still apply.",
		cur.Symbol, amountExample(cur, maxPrice), limit)
}

// parseAmountFrom checks `amount_from:` once the entry's arguments are
// parsed: the named argument must be a string (it is added, required, when
// the entry's params lack it), and any default or enum must be prices the
// entry may pay.
func parseAmountFrom(p *problems, where string, rt *rawTool, e *Entry) {
	at := where + ": amount_from"
	name := rt.AmountFrom
	switch {
	case e.Kind == KindMCP:
		p.add(at, "only applies to HTTP entries (a remote MCP server's tools set their own prices): remove it")
		return
	case !validParamName(name):
		p.add(at, "%q is not a valid argument name: name the argument that carries the price, such as amount", name)
		return
	}
	i := slices.IndexFunc(e.fields, func(f field) bool { return f.name == name })
	if i < 0 {
		if rt.InputSchema.Kind != 0 {
			p.add(at, "%q is not a property of input_schema: add it under properties as {type: string} and list it in required", name)
			return
		}
		if e.schema == nil {
			return // the params have mistakes of their own, already reported
		}
		// Added as a required string argument, where an argument of that
		// name goes by convention (the path if the url names it).
		in := conventionalIn(e.Method, slices.Contains(templateParams(e.urlParts), name))
		if in == InBody {
			e.hasBody = true
		}
		e.Params = append(e.Params, Param{Name: name, In: in, Type: "string", Required: true, Description: amountDescription(e.Currency, e.MaxPrice)})
		e.fields = append(e.fields, field{name: name, in: in, types: []string{"string"}, required: true, amount: true, cur: e.Currency})
		e.schema = paramsSchema(e.Params, e.fields)
		return
	}
	f := &e.fields[i]
	if len(f.types) != 1 || f.types[0] != "string" {
		declared := "with no type"
		if len(f.types) > 0 {
			declared = "as " + joinTypes(f.types)
		}
		p.add(at, "argument %q is declared %s: a price argument must be type: string (a decimal %s amount such as \"0.01\"; a JSON number is not exact money)", name, declared, e.Currency.Symbol)
		return
	}
	if !f.required && !f.hasDef {
		p.add(at, "argument %q is optional with no default, so a call could leave its price out: make it required (or give it a default amount)", name)
	}
	ok := true
	cur := e.Currency
	price := func(what string, v any) (string, bool) {
		s, isStr := v.(string)
		if !isStr {
			p.add(at, "the %s of %q, %s, is not a decimal %s amount in a string: write it quoted, such as \"0.01\"", what, name, describe(v), cur.Symbol)
			return "", false
		}
		a, err := argAmount(cur, s)
		switch {
		case err != nil:
			p.add(at, "the %s of %q: %v", what, name, err)
			return "", false
		case !known(cur):
			return s, true // checked once the decimals are known
		case e.MaxPrice != 0 && a > e.MaxPrice:
			p.add(at, "the %s of %q, %s, is above max_price (%s): lower it or raise max_price", what, name, cur.Format(a), cur.Format(e.MaxPrice))
			return "", false
		}
		return cur.Decimal(a), true
	}
	if f.hasDef {
		if s, good := price("default", f.def); good {
			f.def = s
		} else {
			ok = false
		}
	}
	for k, v := range f.enum {
		if s, good := price(fmt.Sprintf("enum[%d]", k), v); good {
			f.enum[k] = s
		} else {
			ok = false
		}
	}
	if !ok {
		return
	}
	f.amount, f.cur = true, cur
	if e.Params != nil && e.schema != nil {
		e.schema = paramsSchema(e.Params, e.fields)
	}
}

// CallLimit is the Limit of one call with its arguments: for an entry
// whose price is an argument (AmountFrom), the amount the arguments give (or
// the argument's default) is the exact price the call may pay. The
// arguments should have passed NewRequest; a missing or malformed amount is
// an *ArgumentError.
func (e *Entry) CallLimit(callID string, args map[string]any) (payments.Limit, error) {
	lim := e.Limit(callID)
	if e.AmountFrom == "" {
		return lim, nil
	}
	i := slices.IndexFunc(e.fields, func(f field) bool { return f.name == e.AmountFrom && f.amount })
	if i < 0 {
		return lim, &ConfigError{Tool: e.Name, Msg: fmt.Sprintf("amount_from names %q, which is not a price argument of the entry. Nothing was sent or charged.", e.AmountFrom)}
	}
	f := &e.fields[i]
	v, ok := args[f.name]
	if !ok || v == nil {
		if !f.hasDef {
			return lim, &ArgumentError{Tool: e.Name, Problems: []string{fmt.Sprintf("%q is required: it is the amount to pay, a decimal %s string such as \"0.01\"", f.name, f.cur.Symbol)}}
		}
		v = f.def
	}
	if msg := f.checkAmount(v); msg != "" {
		return lim, &ArgumentError{Tool: e.Name, Problems: []string{msg}}
	}
	a, _ := argAmount(f.cur, v.(string))
	lim.ExactAmount, lim.ExactArg = a, f.name
	return lim, nil
}
