// Package plural writes counts for people: "1 payment", "2 payments".
package plural

import "strconv"

// Count writes n followed by one (when n is 1) or many: Count(1, "payment",
// "payments") is "1 payment", Count(0, …) is "0 payments".
func Count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// Verb picks the verb form agreeing with n: Verb(1, "matches", "match") is
// "matches".
func Verb(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
