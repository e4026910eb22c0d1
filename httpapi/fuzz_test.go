package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/auth"
)

// FuzzTokenFromRequest: whatever a client sends as a token, authentication
// answers 400 or 401 with a JSON error, never panics, and never echoes it.
func FuzzTokenFromRequest(f *testing.F) {
	f.Add("Bearer abc", "t")
	f.Add("bearer "+strings.Repeat("a", 64), "")
	f.Add("", strings.Repeat("f", 64))
	s, err := New(Options{AdminHash: auth.Hash("the-admin")})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, authz, query string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", authz)
		q := r.URL.Query()
		q.Set("token", query)
		r.URL.RawQuery = q.Encode()
		w := httptest.NewRecorder()
		p, ok := s.Authenticate(w, r)
		if ok {
			if !p.Admin {
				t.Fatal("a non-admin principal without a token store")
			}
			return
		}
		if w.Code != http.StatusBadRequest && w.Code != http.StatusUnauthorized {
			t.Fatalf("status %d", w.Code)
		}
		tok, _ := TokenFrom(r)
		if len(tok) > 8 && strings.Contains(w.Body.String(), tok) {
			t.Fatalf("token echoed: %s", w.Body.String())
		}
	})
}
