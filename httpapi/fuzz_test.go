package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/auth"
)

// FuzzParseEnvelope: any body either parses to an event or is rejected
// with an error; it never panics.
func FuzzParseEnvelope(f *testing.F) {
	for _, s := range []string{`{"topic":"a","data":{"x":1}}`, `{"topic":"a","data":"str","meta":{"k":1}}`, `{"topic":1}`, `{`, `{"meta":[]}`, `null`, `{"topic":"a"} {"topic":"b"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := parseEnvelope(b)
		if err == nil && ev == nil {
			t.Fatal("nil event without error")
		}
		if err == nil && len(ev.Meta) > 0 && ev.Meta[0] != '{' {
			t.Fatalf("meta %q accepted", ev.Meta)
		}
	})
}

// FuzzTokenFromRequest: whatever a client sends as a token, authentication
// answers 400 or 401 with a JSON error, never panics, and never echoes it.
func FuzzTokenFromRequest(f *testing.F) {
	f.Add("Bearer abc", "t")
	f.Add("bearer "+strings.Repeat("a", 64), "")
	f.Add("", strings.Repeat("f", 64))
	s := New(Options{})
	s.AdminHash = auth.Hash("the-admin")
	f.Fuzz(func(t *testing.T, authz, query string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", authz)
		q := r.URL.Query()
		q.Set("token", query)
		r.URL.RawQuery = q.Encode()
		w := httptest.NewRecorder()
		p, ok := s.authenticate(w, r)
		if ok {
			if !p.admin {
				t.Fatal("a non-admin principal without a token store")
			}
			return
		}
		if w.Code != http.StatusBadRequest && w.Code != http.StatusUnauthorized {
			t.Fatalf("status %d", w.Code)
		}
		tok := tokenFrom(r)
		if len(tok) > 8 && strings.Contains(w.Body.String(), tok) {
			t.Fatalf("token echoed: %s", w.Body.String())
		}
	})
}
