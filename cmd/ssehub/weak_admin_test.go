package main

import (
	"strings"
	"testing"
)

// TestWeakAdminTokenWarns guards a defect found by an adversarial pass: a
// careless operator could set auth.admin_token (or SSEHUB_ADMIN_TOKEN) to
// "changeme" and nothing said so, though the hub counts on tokens nobody
// can guess and does not slow down guessing. A short one is taken (tests
// and local runs use them) but warned about at every start, without the
// token itself; a random 64-character one is not.
func TestWeakAdminTokenWarns(t *testing.T) {
	for _, c := range []struct {
		token string
		warn  bool
	}{{"changeme", true}, {strings.Repeat("ab", 15), true}, {strings.Repeat("0123456789abcdef", 4), false}} {
		t.Setenv("SSEHUB_ADMIN_TOKEN", c.token)
		_, logs := startServeLogs(t, "--store", "memory")
		l := logs.String()
		if got := strings.Contains(l, "level=WARN") && strings.Contains(l, "admin token"); got != c.warn {
			t.Errorf("admin token of %d bytes: warned %v, want %v:\n%s", len(c.token), got, c.warn, l)
		}
		if strings.Contains(l, c.token) {
			t.Errorf("the log holds the admin token:\n%s", l)
		}
	}
}
