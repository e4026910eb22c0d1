package httpapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/hub"
)

// TokenCookie is the cookie a browser may carry its token in. POST
// /api/session sets it: HttpOnly, SameSite=Strict, Path=/, Secure on TLS.
const TokenCookie = "ssehub_token"

// CSRFHeader must accompany every state-changing request authenticated by
// the token cookie, with the value POST /api/session returned (see
// CSRFToken). A site on another origin cannot read it, and cannot send a
// custom header without a CORS preflight that the hub refuses it.
const CSRFHeader = "X-CSRF-Token"

// HashToken returns the SHA-256 of a token, the only form in which tokens
// are kept.
func HashToken(token string) [32]byte { return auth.Hash(token) }

// CSRFToken returns the CSRF value that goes with a token secret: derived
// from it, so the server keeps no state, and useless without it.
func CSRFToken(secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("ssehub csrf v1"))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// Principal is who a request acts as: the operator's admin token, or the
// holder of an issued token.
type Principal struct {
	// Admin is the operator's admin token (scope: everything).
	Admin bool
	// Token is the issued token, when Admin is false.
	Token auth.Token
}

// Scope returns the topics the principal may act on.
func (p *Principal) Scope() ssehub.Filter {
	if p.Admin {
		return ssehub.All()
	}
	return p.Token.Scope()
}

// Key names the principal for per-token limits; "" for nobody.
func (p *Principal) Key() string {
	switch {
	case p == nil:
		return ""
	case p.Admin:
		return "admin"
	}
	return p.Token.ID
}

// Credential is what the hub guards a stream opened by p with: revoking or
// expiring the token ends it. Nil for the admin token and for nobody.
func (p *Principal) Credential() *hub.Credential {
	if p == nil || p.Admin {
		return nil
	}
	return &hub.Credential{ID: p.Token.ID, ExpiresAt: p.Token.ExpiresAt}
}

// TokenFrom returns the token a request presents, and whether it came from
// the cookie: Authorization: Bearer, then ?token=, then the cookie.
func TokenFrom(r *http.Request) (secret string, cookie bool) {
	if a := r.Header.Get("Authorization"); a != "" {
		if len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
			return strings.TrimSpace(a[7:]), false
		}
	}
	if t := r.URL.Query().Get("token"); t != "" {
		return t, false
	}
	if c, err := r.Cookie(TokenCookie); err == nil {
		return c.Value, true
	}
	return "", false
}

// Authenticate returns who r acts as, or writes the error response: 400
// malformed, 401 missing, unknown, expired or revoked, 403 a
// cookie-authenticated change without its CSRF proof.
func (s *Server) Authenticate(w http.ResponseWriter, r *http.Request) (*Principal, bool) {
	secret, cookie := TokenFrom(r)
	if cookie && !safeMethod(r.Method) && !s.sameOrigin(w, r, secret) {
		return nil, false
	}
	return s.AuthenticateSecret(w, r, secret)
}

// AuthenticateSecret is Authenticate for a secret found elsewhere (a path
// segment).
func (s *Server) AuthenticateSecret(w http.ResponseWriter, r *http.Request, secret string) (*Principal, bool) {
	if secret == "" {
		WriteError(w, http.StatusUnauthorized, CodeUnauthorized, "a token is required: send Authorization: Bearer <token>, ?token=<token> or the "+TokenCookie+" cookie")
		return nil, false
	}
	h := auth.Hash(secret)
	if subtle.ConstantTimeCompare(h[:], s.opts.AdminHash[:]) == 1 {
		return &Principal{Admin: true}, true
	}
	if s.opts.Tokens == nil {
		WriteError(w, http.StatusUnauthorized, CodeUnauthorized, "unknown token")
		return nil, false
	}
	t, err := s.opts.Tokens.Lookup(r.Context(), secret)
	switch {
	case err == nil:
		return &Principal{Token: t}, true
	case errors.Is(err, auth.ErrMalformed):
		WriteError(w, http.StatusBadRequest, CodeBadToken, err.Error())
	case errors.Is(err, auth.ErrUnknown), errors.Is(err, auth.ErrExpired), errors.Is(err, auth.ErrRevoked):
		WriteError(w, http.StatusUnauthorized, CodeUnauthorized, err.Error())
	default:
		s.opts.Logger.Error("token lookup", "err", err)
		WriteError(w, http.StatusInternalServerError, CodeInternal, "checking the token failed")
	}
	return nil, false
}

// Permit checks that p may act for purpose on every topic f matches, and
// writes the 403 otherwise. The admin token may do everything; an admin
// token that was issued with a scope acts only within it.
func (s *Server) Permit(w http.ResponseWriter, p *Principal, purpose auth.Purpose, f ssehub.Filter) bool {
	if p.Admin {
		return true
	}
	err := auth.Check(&p.Token, purpose, f)
	switch {
	case err == nil:
		return true
	case errors.Is(err, auth.ErrPurpose):
		WriteError(w, http.StatusForbidden, CodeForbidden, "the token's purpose is "+string(p.Token.Purpose)+"; this needs "+string(purpose))
	default:
		WriteError(w, http.StatusForbidden, CodeForbidden, err.Error())
	}
	return false
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// sameOrigin checks a cookie-authenticated state-changing request: it must
// come from the hub's own origin or one listed by name in the CORS origins
// (see fromAllowedOrigin), and carry the CSRF header that goes with the
// cookie's token.
func (s *Server) sameOrigin(w http.ResponseWriter, r *http.Request, secret string) bool {
	if !s.fromAllowedOrigin(r) {
		WriteError(w, http.StatusForbidden, CodeCSRF, "a change authenticated by the "+TokenCookie+" cookie must come from the hub's own origin")
		return false
	}
	want := CSRFToken(secret)
	if got := r.Header.Get(CSRFHeader); subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		WriteError(w, http.StatusForbidden, CodeCSRF, "a change authenticated by the "+TokenCookie+" cookie needs the "+CSRFHeader+" header that POST /api/session returned")
		return false
	}
	return true
}

// fromAllowedOrigin reports whether a request may act through the cookie
// as far as the browser tells where it comes from: an Origin header, when
// sent, must be the hub's own origin or one listed by name ("null", an
// opaque origin, is neither); without one, Sec-Fetch-Site must not be
// cross-site or same-site (a sibling subdomain is another origin). A
// request with neither header comes from no browser page.
func (s *Server) fromAllowedOrigin(r *http.Request) bool {
	if origin := r.Header.Get("Origin"); origin != "" {
		return origin != "null" && s.originOK(r, origin)
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "cross-site", "same-site":
		return false
	}
	return true
}

// originOK reports whether a browser request from origin may change state
// with the cookie: the hub's own origin, or one listed by name.
func (s *Server) originOK(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && (strings.EqualFold(u.Host, r.Host) || s.cors.Lists(origin))
}
