package httpapi

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/http"
	"time"
)

// sessionRoutes adds /api/session: a browser (the web console) trades a
// token for the HttpOnly token cookie and gets the CSRF value its changes
// must carry.
func (s *Server) sessionRoutes() {
	s.Route("/api/session", Methods{"POST": s.handleSignIn, "GET": s.handleWhoAmI, "DELETE": s.handleSignOut})
}

type sessionJSON struct {
	CSRF      string    `json:"csrf,omitempty"`
	Admin     bool      `json:"admin"`
	ID        string    `json:"id,omitempty"`
	Purpose   string    `json:"purpose"`
	Topics    []string  `json:"topics"`
	Label     string    `json:"label,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

func describe(p *Principal) sessionJSON {
	if p.Admin {
		return sessionJSON{Admin: true, Purpose: "admin", Topics: []string{"*"}}
	}
	info := p.Token.Info()
	return sessionJSON{ID: info.ID, Purpose: info.Purpose, Topics: info.Topics, Label: info.Label, ExpiresAt: info.ExpiresAt}
}

// handleSignIn serves POST /api/session {"token":"…"}: the token is checked
// like any other, then set as the cookie (HttpOnly, SameSite=Strict,
// Path=/, Secure over TLS, expiring with the token). The body must be JSON,
// so a page on another origin cannot send it without a CORS preflight.
func (s *Server) handleSignIn(w http.ResponseWriter, r *http.Request) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		WriteError(w, http.StatusUnsupportedMediaType, CodeMediaType, `send {"token":"…"} as application/json`)
		return
	}
	if !s.fromAllowedOrigin(r) {
		WriteError(w, http.StatusForbidden, CodeCSRF, "sign in from the hub's own origin")
		return
	}
	body, ok := s.ReadBody(w, r, 4096)
	if !ok {
		return
	}
	var req struct {
		Token string `json:"token"`
	}
	if err := DecodeJSON(body, &req); err != nil {
		WriteError(w, http.StatusBadRequest, CodeBadJSON, err.Error())
		return
	}
	p, ok := s.AuthenticateSecret(w, r, req.Token)
	if !ok {
		return
	}
	if !cookieSafe(req.Token) {
		// net/http would drop the bytes a cookie cannot hold, and the
		// cookie would then carry another secret, one that fails.
		WriteError(w, http.StatusBadRequest, CodeBadToken, "this token holds characters a cookie cannot carry; send it as Authorization: Bearer")
		return
	}
	c := &http.Cookie{Name: TokenCookie, Value: req.Token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil}
	if !p.Admin && !p.Token.ExpiresAt.IsZero() {
		c.Expires = p.Token.ExpiresAt
	}
	http.SetCookie(w, c)
	out := describe(p)
	out.CSRF = CSRFToken(req.Token)
	WriteJSON(w, http.StatusOK, out)
}

// handleWhoAmI serves GET /api/session: who the request acts as.
func (s *Server) handleWhoAmI(w http.ResponseWriter, r *http.Request) {
	p, ok := s.Authenticate(w, r)
	if !ok {
		return
	}
	WriteJSON(w, http.StatusOK, describe(p))
}

// handleSignOut serves DELETE /api/session: the cookie is cleared.
func (s *Server) handleSignOut(w http.ResponseWriter, r *http.Request) {
	if !s.fromAllowedOrigin(r) {
		WriteError(w, http.StatusForbidden, CodeCSRF, "sign out from the hub's own origin")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: TokenCookie, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil, MaxAge: -1})
	w.WriteHeader(http.StatusNoContent)
}

// DecodeJSON decodes exactly one JSON value into v, rejecting unknown
// fields and anything after the value.
func DecodeJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errTrailing
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); err == nil {
		return errTrailing
	}
	if off := dec.InputOffset(); len(bytes.TrimSpace(body[off:])) > 0 {
		return errTrailing
	}
	return nil
}

// cookieSafe reports whether a secret can be a cookie's value as it is:
// printable ASCII without '"', ';' and '\\' (net/http quotes a value with
// a space or a comma).
func cookieSafe(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c >= 0x7f || c == '"' || c == ';' || c == '\\' {
			return false
		}
	}
	return true
}
