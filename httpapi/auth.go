package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// TokenCookie is the cookie a browser may carry its token in.
const TokenCookie = "ssehub_token"

// HashToken returns the SHA-256 of a token, the only form in which tokens
// are kept.
func HashToken(token string) [32]byte { return sha256.Sum256([]byte(token)) }

// tokenFrom returns the token a request presents: Authorization: Bearer,
// then ?token=, then the cookie.
func tokenFrom(r *http.Request) string {
	if a := r.Header.Get("Authorization"); a != "" {
		if len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
			return strings.TrimSpace(a[7:])
		}
	}
	if t := r.URL.Query().Get("token"); t != "" {
		return t
	}
	if c, err := r.Cookie(TokenCookie); err == nil {
		return c.Value
	}
	return ""
}

// authorize reports whether r presents the admin token, and writes the 401
// otherwise. The comparison is of hashes, in constant time.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) bool {
	tok := tokenFrom(r)
	if tok == "" {
		writeError(w, http.StatusUnauthorized, codeUnauthorized, "a token is required: send Authorization: Bearer <token>, ?token=<token> or the "+TokenCookie+" cookie")
		return false
	}
	h := HashToken(tok)
	if subtle.ConstantTimeCompare(h[:], s.AdminHash[:]) != 1 {
		writeError(w, http.StatusUnauthorized, codeUnauthorized, "unknown token")
		return false
	}
	return true
}
