package ui

import (
	"net/http"
	"time"

	"github.com/ssehub/ssehub/httpapi"
)

// sessionJSON is GET /ui/api/session's answer: the same fields as GET
// /api/session, plus the CSRF value when the cookie authenticated the
// request.
type sessionJSON struct {
	Admin     bool      `json:"admin"`
	ID        string    `json:"id,omitempty"`
	Purpose   string    `json:"purpose"`
	Topics    []string  `json:"topics"`
	Label     string    `json:"label,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	CSRF      string    `json:"csrf,omitempty"`
}

func describe(p *httpapi.Principal) sessionJSON {
	if p.Admin {
		return sessionJSON{Admin: true, Purpose: "admin", Topics: []string{"*"}}
	}
	info := p.Token.Info()
	return sessionJSON{ID: info.ID, Purpose: info.Purpose, Topics: info.Topics, Label: info.Label, ExpiresAt: info.ExpiresAt}
}

// handleSession serves GET /ui/api/session: who the request acts as, and
// for the token cookie the CSRF value that goes with it. A reloaded
// console learns its CSRF value here instead of keeping it: the value is
// derived from the cookie's secret, which the page cannot read. No other
// origin can read the answer (the console sends no CORS headers), a
// browser request from another site or origin of the site is refused
// (Sec-Fetch-Site), and the answer is never cached.
func (f *Feature) handleSession(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	switch r.Header.Get("Sec-Fetch-Site") {
	case "cross-site", "same-site":
		httpapi.WriteError(w, http.StatusForbidden, httpapi.CodeCSRF, "the console's session is read by the console's own pages only")
		return
	}
	p, ok := f.s.Authenticate(w, r)
	if !ok {
		return
	}
	out := describe(p)
	if secret, cookie := httpapi.TokenFrom(r); cookie {
		out.CSRF = httpapi.CSRFToken(secret)
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
}
