package server

import "net/http"

// AdminOnly and IsAdmin expose the dashboard's admin check to the tests.
var (
	AdminOnly = func(authn func(*http.Request) (string, bool), admin func(string) bool, next http.Handler) http.Handler {
		return adminOnly(authn, admin, next)
	}
	IsAdmin = isAdmin
)
