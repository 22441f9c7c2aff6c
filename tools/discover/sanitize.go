// Package discover proposes registry entries from what sellers publish: the
// unpaid 402 of one URL (Probe) or a facilitator's discovery listing
// (Import). Everything a seller wrote is untrusted: it is cleaned with
// SellerText and quoted as the seller's words before a model may read it.
package discover

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Caps on seller text, in runes.
const (
	MaxDescription      = 300
	MaxParamDescription = 160
)

var (
	mdImageRE   = regexp.MustCompile(`!\[[^\]]*\]\([^)]*\)`)
	mdLinkRE    = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
	htmlBlockRE = regexp.MustCompile(`(?is)<(script|style)\b.*?</(script|style)\s*>|<!--.*?-->`)
	htmlTagRE   = regexp.MustCompile(`</?[A-Za-z!?][^<>]*>`)
	spaceRE     = regexp.MustCompile(`\s+`)
)

// SellerText cleans text a seller wrote so that it can be shown to a model as
// a quotation: HTML tags (and script/style blocks and comments) and markdown
// images are removed, markdown links keep only their text, control and
// invisible formatting characters (bidi overrides, zero-width) are dropped,
// whitespace is collapsed to single spaces, double quotes and backticks become
// single quotes (so the quotation cannot be closed from inside), and the
// result is cut to max runes with "…".
func SellerText(s string, max int) string {
	s = strings.ToValidUTF8(s, "")
	s = htmlBlockRE.ReplaceAllString(s, " ")
	s = mdImageRE.ReplaceAllString(s, " ")
	s = mdLinkRE.ReplaceAllString(s, "$1")
	s = htmlTagRE.ReplaceAllString(s, " ")
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t' || r == '\r':
			return ' '
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError:
			return -1
		case r == '"' || r == '`' || r == '“' || r == '”':
			return '\''
		}
		return r
	}, s)
	s = strings.TrimSpace(spaceRE.ReplaceAllString(s, " "))
	if utf8.RuneCountInString(s) > max {
		r := []rune(s)
		s = strings.TrimSpace(string(r[:max-1])) + "…"
	}
	return s
}

// Quoted marks cleaned seller text as unverified third-party text; "" stays "".
func Quoted(s string, max int) string {
	s = SellerText(s, max)
	if s == "" {
		return ""
	}
	return `From the seller (unverified): "` + s + `"`
}
