package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/httpapi"
)

// createRequest is the body of POST /api/tokens. TTL is a Go duration
// ("8h") or a number of seconds; absent or null means no expiry.
type createRequest struct {
	Purpose string          `json:"purpose"`
	Topics  []string        `json:"topics"`
	TTL     json.RawMessage `json:"ttl"`
	Label   string          `json:"label"`
}

// handleCreateToken serves POST /api/tokens. A scoped admin token mints
// tokens within its own scope only, and an admin token that expires only
// tokens that expire no later than itself.
func (f *Feature) handleCreateToken(w http.ResponseWriter, r *http.Request) {
	p, ok := f.admin(w, r)
	if !ok {
		return
	}
	tokens := f.s.Tokens()
	if tokens == nil {
		httpapi.WriteError(w, http.StatusServiceUnavailable, httpapi.CodeUnavailable, "this hub keeps no tokens")
		return
	}
	body, ok := f.s.ReadBody(w, r, 64<<10)
	if !ok {
		return
	}
	var req createRequest
	if err := httpapi.DecodeJSON(body, &req); err != nil {
		httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadJSON, "invalid token request: "+err.Error())
		return
	}
	purpose, err := auth.ParsePurpose(req.Purpose)
	if err != nil {
		httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadRequest, err.Error())
		return
	}
	scope := ssehub.All()
	if len(req.Topics) > 0 {
		if scope, err = f.s.ParseFilter(req.Topics); err != nil {
			httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadPattern, err.Error())
			return
		}
	}
	if !f.s.Permit(w, p, auth.PurposeAdmin, scope) {
		return
	}
	ttl, err := f.parseTTL(req.TTL)
	if err != nil {
		httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadRequest, err.Error())
		return
	}
	if !p.Admin && !p.Token.ExpiresAt.IsZero() {
		// A token minted by an expiring token would outlast what it was lent.
		if left := time.Until(p.Token.ExpiresAt); ttl == 0 || ttl > left {
			httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadRequest,
				fmt.Sprintf("your token expires in %v: a token it mints needs a ttl no longer than that", left.Round(time.Second)))
			return
		}
	}
	if len(req.Label) > f.opts.MaxLabelLen {
		httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadField, fmt.Sprintf("label is %d bytes, over the limit of %d", len(req.Label), f.opts.MaxLabelLen))
		return
	}
	if err := auth.ValidateLabel(req.Label); err != nil {
		httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadField, "label: "+err.Error())
		return
	}
	parent := ""
	if !p.Admin {
		parent = p.Token.ID // revoking the minter revokes this one too
	}
	secret, t, err := tokens.Create(r.Context(), auth.CreateOptions{Purpose: purpose, Topics: req.Topics, TTL: ttl, Label: req.Label, Parent: parent})
	if errors.Is(err, auth.ErrTooDeep) {
		httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadRequest, err.Error())
		return
	}
	if err != nil {
		f.s.Logger().Error("create token", "err", err)
		httpapi.WriteError(w, http.StatusServiceUnavailable, httpapi.CodeUnavailable, "creating the token failed")
		return
	}
	out := t.Info()
	out.Token = secret
	httpapi.WriteJSON(w, http.StatusCreated, out)
}

// parseTTL reads a TTL: a positive duration string ("8h") or a positive
// number of seconds, at least a millisecond and at most MaxTTL. Absent or
// null is no expiry; zero, negative, not finite or out of range is an
// error, never a token that silently never expires.
func (f *Feature) parseTTL(raw json.RawMessage) (time.Duration, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	limits := fmt.Sprintf("from 1ms to %v", f.opts.MaxTTL)
	var d time.Duration
	var secs float64
	if err := json.Unmarshal(raw, &secs); err == nil {
		if math.IsNaN(secs) || secs < 0.001 || secs > f.opts.MaxTTL.Seconds() {
			return 0, fmt.Errorf("ttl %s seconds is out of range: a ttl is %s (omit it for no expiry)", raw, limits)
		}
		d = time.Duration(secs * float64(time.Second))
	} else {
		var str string
		if err := json.Unmarshal(raw, &str); err != nil {
			return 0, errors.New(`ttl must be a duration like "8h" or a number of seconds`)
		}
		var perr error
		if d, perr = time.ParseDuration(str); perr != nil {
			return 0, fmt.Errorf(`ttl %.40q is not a duration like "8h"`, str)
		}
	}
	if d < time.Millisecond || d > f.opts.MaxTTL {
		return 0, fmt.Errorf("ttl %v is out of range: a ttl is %s (omit it for no expiry)", d, limits)
	}
	return d, nil
}

// maxTokensPage is the most tokens one GET /api/tokens answers, and its
// default page size.
const maxTokensPage = 1000

// handleListTokens serves GET /api/tokens[?purpose=P&limit=N&after=CURSOR]:
// a page of tokens, oldest first, never a secret, {"tokens":[…],"next":C};
// next, absent on the last page, is the after of the next page. A scoped
// admin token lists the tokens within its scope.
func (f *Feature) handleListTokens(w http.ResponseWriter, r *http.Request) {
	p, ok := f.admin(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	var want auth.Purpose
	if v := q.Get("purpose"); v != "" {
		var err error
		if want, err = auth.ParsePurpose(v); err != nil {
			httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadRequest, err.Error())
			return
		}
	}
	limit := maxTokensPage
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxTokensPage {
			httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadRequest, fmt.Sprintf("limit must be a number from 1 to %d", maxTokensPage))
			return
		}
		limit = n
	}
	after, err := parseTokenCursor(q.Get("after"))
	if err != nil {
		httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadRequest, err.Error())
		return
	}
	out := struct {
		Tokens []auth.Info `json:"tokens"`
		Next   string      `json:"next,omitempty"`
	}{Tokens: []auth.Info{}}
	if tokens := f.s.Tokens(); tokens != nil {
		ts, err := tokens.List(r.Context())
		if err != nil {
			f.s.Logger().Error("list tokens", "err", err)
			httpapi.WriteError(w, http.StatusServiceUnavailable, httpapi.CodeUnavailable, "listing tokens failed")
			return
		}
		scope := p.Scope()
		for i := range ts {
			t := &ts[i]
			if !after.before(t) || (want != "" && t.Purpose != want) || !scope.Covers(t.Scope()) {
				continue
			}
			if len(out.Tokens) == limit { // another one matches: a next page
				last := out.Tokens[limit-1]
				out.Next = tokenCursor{created: last.CreatedAt, id: last.ID}.String()
				break
			}
			out.Tokens = append(out.Tokens, t.Info())
		}
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
}

// handleRevokeToken serves DELETE /api/tokens/{id}: the token stops
// working, and its live streams end with an error event, on every node.
func (f *Feature) handleRevokeToken(w http.ResponseWriter, r *http.Request) {
	p, ok := f.admin(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	tokens := f.s.Tokens()
	notFound := func() {
		msg := "no such token" // never echo what may be a secret pasted by mistake
		if len(id) <= 24 && !strings.ContainsFunc(id, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
		}) {
			msg = "no token " + id
		}
		httpapi.WriteError(w, http.StatusNotFound, httpapi.CodeNotFound, msg)
	}
	if tokens == nil {
		notFound()
		return
	}
	t, err := tokens.Get(r.Context(), id)
	if errors.Is(err, ssehub.ErrNotFound) {
		notFound()
		return
	}
	if err == nil && !p.Scope().Covers(t.Scope()) {
		httpapi.WriteError(w, http.StatusForbidden, httpapi.CodeForbidden, "the token's scope is outside yours")
		return
	}
	var gone []string
	if err == nil {
		// Every token minted under it goes too, and their streams end.
		t, gone, err = tokens.RevokeTree(r.Context(), id)
	}
	for _, g := range gone {
		if err != nil {
			break
		}
		err = f.s.Hub().RevokeToken(r.Context(), g)
	}
	if err != nil {
		f.s.Logger().Error("revoke token", "err", err)
		httpapi.WriteError(w, http.StatusServiceUnavailable, httpapi.CodeUnavailable, "revoking the token failed; retry")
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, t.Info())
}
