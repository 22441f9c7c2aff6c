package tools

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sync"

	"github.com/x402-mcp/x402-mcp/payments"
)

// Tips and pay-what-you-want endpoints: an entry with `amount_from: <arg>`
// takes its price from that argument. The argument is a decimal amount of
// the entry's currency (USDC, or the asset it pins) in a string, parsed
// exactly; it is sent to the upstream as its param says (canonical form:
// "0.250" goes as "0.25"), and the payment client pays only a 402 asking
// exactly that amount (payments.Limit's ExactAmount), under every cap,
// budget and approval threshold.

// AmountPattern is the JSON Schema pattern of a USDC amount argument (an
// amount_from argument, x402_tip's amount, x402_find_tools' max_price): a
// decimal in a string, with at most six decimals. An amount of another asset
// follows its Currency.Pattern. ParseAmountArg holds values to exactly this
// pattern, plus "more than 0".
var AmountPattern = payments.USDC.Pattern()

// amountREs caches the compiled pattern of each number of decimals.
var amountREs sync.Map // int → *regexp.Regexp

func amountRE(cur payments.Currency) *regexp.Regexp {
	d := cur.Decimals
	if re, ok := amountREs.Load(d); ok {
		return re.(*regexp.Regexp)
	}
	re := regexp.MustCompile(cur.Pattern())
	amountREs.Store(d, re)
	return re
}

// amountRule says what an amount argument of cur must be, after `"name"
// must be`.
func amountRule(cur payments.Currency) string {
	if cur.Symbol == "" {
		cur = payments.USDC
	}
	if cur.Decimals == 0 {
		return fmt.Sprintf(`a whole %s amount in a JSON string: digits, more than 0, such as "1"`, cur.Symbol)
	}
	return fmt.Sprintf(`a decimal %s amount in a JSON string: digits, optionally a "." and 1 to %d decimals, more than 0, such as "%s"`,
		cur.Symbol, cur.Decimals, amountExample(cur, 0))
}

// ParseAmountArg reads the amount argument name whose value is v (nil when
// the argument was left out), an amount of cur, for every tool that takes an
// amount from the model: a JSON string matching cur's pattern, more than 0,
// parsed exactly ("0.250" USDC is 250000 atomic units). Anything else returns
// a message for an *ArgumentError that states the rule and what was given.
// JSON numbers are refused: a float is not exact money.
func ParseAmountArg(cur payments.Currency, name string, v any) (payments.Amount, string) {
	if cur.Symbol == "" {
		cur = payments.USDC
	}
	rule := amountRule(cur)
	must := fmt.Sprintf("%q must be %s; got ", name, rule)
	switch x := v.(type) {
	case nil:
		return 0, fmt.Sprintf("%q is required: %s", name, rule)
	case string:
		if !amountRE(cur).MatchString(x) {
			return 0, must + describe(x)
		}
		a, err := parseMoney(cur, x)
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
// argument's default or enum value) in cur: a registry amount that is also
// written as ParseAmountArg accepts it, since the default and the enum are
// shown to the model in the argument's schema.
func argAmount(cur payments.Currency, s string) (payments.Amount, error) {
	a, err := parseMoney(cur, s)
	switch {
	case err != nil:
		return 0, err
	case !amountRE(cur).MatchString(s):
		return 0, fmt.Errorf("%q must be written as the argument is: %s", s, amountRule(cur))
	case a == 0:
		return 0, errors.New(`0 pays nothing: write the amount to pay, such as "0.01"`)
	}
	return a, nil
}

// checkAmount validates a price argument's value (see field.check) and
// returns the amount it holds, or what is wrong with it.
func (f *field) checkAmount(v any) (payments.Amount, string) {
	a, msg := ParseAmountArg(f.cur, f.name, v)
	if msg != "" {
		return 0, msg
	}
	if len(f.enum) > 0 && !inEnum(f.cur.Decimal(a), f.enum) {
		return 0, fmt.Sprintf("%q must be one of %s, got %s", f.name, enumList(f.enum), describe(v))
	}
	return a, ""
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
	if (!ok || v == nil) && f.hasDef {
		v = f.def
	}
	a, msg := f.checkAmount(v)
	if msg != "" {
		return lim, &ArgumentError{Tool: e.Name, Problems: []string{msg}}
	}
	lim.ExactAmount, lim.ExactArg = a, f.name
	return lim, nil
}
