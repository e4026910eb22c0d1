package httpapi_test

import (
	"net/url"
	"testing"

	"github.com/ssehub/ssehub/httpapi"
)

// TestRedactTokenPathSegment guards a defect found by an adversarial pass: the
// segment after /api/tokens/ was logged as it came, so an operator who
// pasted the admin token with a typo (or one character short) instead of
// a token's id into DELETE /api/tokens/{id} left nearly the whole secret
// in the access log: it looks like no token, and its hash is not the
// admin token's. Only a token id is kept there.
func TestRedactTokenPathSegment(t *testing.T) {
	for in, want := range map[string]string{
		"/api/tokens/tok_0123456789abcdef":         "/api/tokens/tok_0123456789abcdef",
		"/api/tokens/Adm1n~adv3-Secre":             "/api/tokens/REDACTED",
		"/api/tokens/changeme":                     "/api/tokens/REDACTED",
		"/API/Tokens/changeme/more":                "/API/Tokens/REDACTED/more",
		"/api/tokens/tok_0123456789ABCDEF":         "/api/tokens/REDACTED",
		"/api/tokens/tok_0123456789abcdef0":        "/api/tokens/REDACTED",
		"/api/tokens":                              "/api/tokens",
		"/api/tokens/":                             "/api/tokens/",
		"/api/topics/orders.tokens":                "/api/topics/orders.tokens",
		"/publish/tokens":                          "/publish/tokens",
		"/api/tokens/tok_0123456789abcdef?limit=5": "/api/tokens/tok_0123456789abcdef?limit=5",
	} {
		u, err := url.Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := httpapi.RedactURL(u); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
