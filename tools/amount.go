package tools

import (
	"errors"
	"fmt"
	"regexp"
	"slices"

	"github.com/x402-mcp/x402-mcp/payments"
)

// Tips and pay-what-you-want endpoints: an entry with `amount_from: <arg>`
// takes its price from that argument. The argument is a decimal USDC
// amount in a string, parsed exactly; it is sent to the upstream as its
// param says (canonical form: "0.250" goes as "0.25"), and the payment
// client pays only a 402 asking exactly that amount (payments.Limit's
// ExactAmount), under every cap, budget and approval threshold.

// AmountPattern is the JSON Schema pattern of every amount argument (an
// amount_from argument, x402_tip's amount): a decimal USDC amount in a
// string, with at most six decimals. ParseAmountArg holds values to exactly
// this pattern, plus "more than 0".
const AmountPattern = `^[0-9]+(\.[0-9]{1,6})?$`

var amountRE = regexp.MustCompile(AmountPattern)

// amountRule says what an amount argument must be, after `"name" must be`.
const amountRule = `a decimal USDC amount in a JSON string: digits, optionally a "." and 1 to 6 decimals, more than 0, such as "0.01"`

// ParseAmountArg reads the amount argument name whose value is v (nil when
// the argument was left out), for every tool that takes an amount from the
// model: a JSON string matching AmountPattern, more than 0, parsed exactly
// ("0.250" is 250000 atomic units). Anything else returns a message for an
// *ArgumentError that states the rule and what was given. JSON numbers are
// refused: a float is not exact money.
func ParseAmountArg(name string, v any) (payments.Amount, string) {
	must := fmt.Sprintf("%q must be %s; got ", name, amountRule)
	switch x := v.(type) {
	case nil:
		return 0, fmt.Sprintf("%q is required: %s", name, amountRule)
	case string:
		if !amountRE.MatchString(x) {
			return 0, must + describe(x)
		}
		a, err := payments.ParseAmount(x)
		if err != nil {
			return 0, must + describe(x) + ", which is too large"
		}
		if a == 0 {
			return 0, must + describe(x)
		}
		return a, ""
	default:
		if t := jsonTypeOf(v); t == "number" || t == "integer" {
			return 0, must + "the number " + describe(v) + " (a JSON number is not exact money)"
		}
		return 0, must + describe(v)
	}
}

// argAmount parses a price written in the registry (an amount_from
// argument's default or enum value): a registry amount (payments.ParseAmount)
// that is also written as ParseAmountArg accepts it, since the default and
// the enum are shown to the model in the argument's schema.
func argAmount(s string) (payments.Amount, error) {
	a, err := payments.ParseAmount(s)
	switch {
	case err != nil:
		return 0, err
	case !amountRE.MatchString(s):
		return 0, fmt.Errorf("%q must be written as the argument is: %s", s, amountRule)
	case a == 0:
		return 0, errors.New(`0 pays nothing: write the amount to pay, such as "0.01"`)
	}
	return a, nil
}

// checkAmount validates a price argument's value (see field.check).
func (f *field) checkAmount(v any) string {
	a, msg := ParseAmountArg(f.name, v)
	if msg != "" {
		return msg
	}
	if len(f.enum) > 0 && !inEnum(a.String(), f.enum) {
		return fmt.Sprintf("%q must be one of %s, got %s", f.name, enumList(f.enum), describe(v))
	}
	return ""
}

// amountExample is an example price for a description: 0.01 USDC, or the
// cap when that is lower.
func amountExample(maxPrice payments.Amount) string {
	if maxPrice != 0 && maxPrice < 10_000 {
		return maxPrice.String()
	}
	return "0.01"
}

// amountDescription describes a price argument added by amount_from.
func amountDescription(maxPrice payments.Amount) string {
	limit := ""
	if maxPrice != 0 {
		limit = fmt.Sprintf(", at most %s USDC (the tool's max_price)", maxPrice)
	}
	return fmt.Sprintf("Amount to pay, in USDC, as a decimal string such as %q%s. The seller must ask exactly this amount or nothing is paid; the operator's budgets and approval still apply.",
		amountExample(maxPrice), limit)
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
		e.Params = append(e.Params, Param{Name: name, In: in, Type: "string", Required: true, Description: amountDescription(e.MaxPrice)})
		e.fields = append(e.fields, field{name: name, in: in, types: []string{"string"}, required: true, amount: true})
		e.schema = paramsSchema(e.Params, e.fields)
		return
	}
	f := &e.fields[i]
	if len(f.types) != 1 || f.types[0] != "string" {
		declared := "with no type"
		if len(f.types) > 0 {
			declared = "as " + joinTypes(f.types)
		}
		p.add(at, "argument %q is declared %s: a price argument must be type: string (a decimal USDC amount such as \"0.01\"; a JSON number is not exact money)", name, declared)
		return
	}
	if !f.required && !f.hasDef {
		p.add(at, "argument %q is optional with no default, so a call could leave its price out: make it required (or give it a default amount)", name)
	}
	ok := true
	price := func(what string, v any) (string, bool) {
		s, isStr := v.(string)
		if !isStr {
			p.add(at, "the %s of %q, %s, is not a decimal USDC amount in a string: write it quoted, such as \"0.01\"", what, name, describe(v))
			return "", false
		}
		a, err := argAmount(s)
		switch {
		case err != nil:
			p.add(at, "the %s of %q: %v", what, name, err)
			return "", false
		case e.MaxPrice != 0 && a > e.MaxPrice:
			p.add(at, "the %s of %q, %s, is above max_price (%s): lower it or raise max_price", what, name, a.USDC(), e.MaxPrice.USDC())
			return "", false
		}
		return a.String(), true
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
	f.amount = true
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
	if (!ok || v == nil) && f.hasDef {
		v = f.def
	}
	if msg := f.checkAmount(v); msg != "" {
		return lim, &ArgumentError{Tool: e.Name, Problems: []string{msg}}
	}
	a, _ := ParseAmountArg(f.name, v)
	lim.ExactAmount, lim.ExactArg = a, f.name
	return lim, nil
}
