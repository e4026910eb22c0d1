package httpapi

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/auth"
)

// TokenCookie is the cookie a browser may carry its token in.
const TokenCookie = "ssehub_token"

// HashToken returns the SHA-256 of a token, the only form in which tokens
// are kept.
func HashToken(token string) [32]byte { return auth.Hash(token) }

// principal is who a request acts as: the admin, or the holder of a token.
type principal struct {
	admin bool
	token auth.Token
}

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

// authenticate returns who r acts as, or writes the error response: 400
// malformed, 401 missing, unknown, expired or revoked.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (*principal, bool) {
	return s.authenticateSecret(w, r, tokenFrom(r))
}

func (s *Server) authenticateSecret(w http.ResponseWriter, r *http.Request, secret string) (*principal, bool) {
	if secret == "" {
		writeError(w, http.StatusUnauthorized, codeUnauthorized, "a token is required: send Authorization: Bearer <token>, ?token=<token> or the "+TokenCookie+" cookie")
		return nil, false
	}
	h := auth.Hash(secret)
	if subtle.ConstantTimeCompare(h[:], s.AdminHash[:]) == 1 {
		return &principal{admin: true}, true
	}
	if s.tokens == nil {
		writeError(w, http.StatusUnauthorized, codeUnauthorized, "unknown token")
		return nil, false
	}
	t, err := s.tokens.Lookup(r.Context(), secret)
	switch {
	case err == nil:
		return &principal{token: t}, true
	case errors.Is(err, auth.ErrMalformed):
		writeError(w, http.StatusBadRequest, codeBadToken, err.Error())
	case errors.Is(err, auth.ErrUnknown), errors.Is(err, auth.ErrExpired), errors.Is(err, auth.ErrRevoked):
		writeError(w, http.StatusUnauthorized, codeUnauthorized, err.Error())
	default:
		s.Logger.Error("token lookup", "err", err)
		writeError(w, http.StatusInternalServerError, codeInternal, "checking the token failed")
	}
	return nil, false
}

// permit checks that p may act for purpose on every pattern, and writes
// the 403 otherwise.
func (s *Server) permit(w http.ResponseWriter, p *principal, purpose auth.Purpose, patterns ssehub.Patterns) bool {
	if p.admin {
		return true
	}
	err := auth.Check(&p.token, purpose, patterns)
	switch {
	case err == nil:
		return true
	case errors.Is(err, auth.ErrPurpose):
		writeError(w, http.StatusForbidden, codeForbidden, "the token's purpose is "+string(p.token.Purpose)+"; this needs "+string(purpose))
	default:
		writeError(w, http.StatusForbidden, codeForbidden, err.Error())
	}
	return false
}
