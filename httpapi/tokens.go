package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/auth"
)

// Causes for ending a live stream early.
var (
	errTokenExpired = errors.New("the token expired")
	errTokenRevoked = errors.New("the token was revoked")
)

// createTokenRequest is the body of POST /api/tokens. TTL is a Go duration
// ("8h") or a number of seconds.
type createTokenRequest struct {
	Purpose string          `json:"purpose"`
	Topics  []string        `json:"topics"`
	TTL     json.RawMessage `json:"ttl"`
	Label   string          `json:"label"`
}

func (s *Server) adminOnly(w http.ResponseWriter, r *http.Request) bool {
	p, ok := s.authenticate(w, r)
	return ok && s.permit(w, p, auth.PurposeAdmin, nil)
}

// handleCreateToken serves POST /api/tokens.
func (s *Server) handleCreateToken(w http.ResponseWriter, r *http.Request) {
	if !s.adminOnly(w, r) {
		return
	}
	if s.tokens == nil {
		writeError(w, http.StatusServiceUnavailable, codeUnavailable, "this store keeps no tokens")
		return
	}
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	var req createTokenRequest
	dec := json.NewDecoder(bytesReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, codeBadJSON, "invalid token request: "+err.Error())
		return
	}
	purpose, err := auth.ParsePurpose(req.Purpose)
	if err != nil {
		writeError(w, http.StatusBadRequest, codeBadRequest, err.Error())
		return
	}
	if _, err := ssehub.ParsePatterns(req.Topics...); err != nil {
		writeError(w, http.StatusBadRequest, codeBadPattern, err.Error())
		return
	}
	ttl, err := parseTTL(req.TTL)
	if err != nil {
		writeError(w, http.StatusBadRequest, codeBadRequest, err.Error())
		return
	}
	secret, t, err := s.tokens.Create(r.Context(), auth.CreateOptions{Purpose: purpose, Topics: req.Topics, TTL: ttl, Label: req.Label})
	if err != nil {
		s.Logger.Error("create token", "err", err)
		writeError(w, http.StatusInternalServerError, codeInternal, "creating the token failed")
		return
	}
	out := t.Info()
	out.Token = secret
	writeJSON(w, http.StatusCreated, out)
}

func parseTTL(raw json.RawMessage) (time.Duration, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var secs float64
	if err := json.Unmarshal(raw, &secs); err == nil {
		if secs < 0 {
			return 0, errors.New("ttl must not be negative")
		}
		return time.Duration(secs * float64(time.Second)), nil
	}
	var str string
	if err := json.Unmarshal(raw, &str); err != nil {
		return 0, errors.New(`ttl must be a duration like "8h" or a number of seconds`)
	}
	d, err := time.ParseDuration(str)
	if err != nil || d < 0 {
		return 0, fmt.Errorf(`ttl %q must be a non-negative duration like "8h"`, str)
	}
	return d, nil
}

// handleListTokens serves GET /api/tokens: never a secret.
func (s *Server) handleListTokens(w http.ResponseWriter, r *http.Request) {
	if !s.adminOnly(w, r) {
		return
	}
	out := struct {
		Tokens []auth.Info `json:"tokens"`
	}{Tokens: []auth.Info{}}
	if s.tokens != nil {
		ts, err := s.tokens.List(r.Context())
		if err != nil {
			s.Logger.Error("list tokens", "err", err)
			writeError(w, http.StatusInternalServerError, codeInternal, "listing tokens failed")
			return
		}
		for i := range ts {
			out.Tokens = append(out.Tokens, ts[i].Info())
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// handleRevokeToken serves DELETE /api/tokens/{id}; live streams using the
// token are closed with an error event.
func (s *Server) handleRevokeToken(w http.ResponseWriter, r *http.Request) {
	if !s.adminOnly(w, r) {
		return
	}
	id := r.PathValue("id")
	if s.tokens == nil {
		writeError(w, http.StatusNotFound, codeNotFound, "no token "+id)
		return
	}
	t, err := s.tokens.Revoke(r.Context(), id)
	if errors.Is(err, ssehub.ErrNotFound) {
		writeError(w, http.StatusNotFound, codeNotFound, "no token "+id)
		return
	}
	if err != nil {
		s.Logger.Error("revoke token", "err", err)
		writeError(w, http.StatusInternalServerError, codeInternal, "revoking the token failed")
		return
	}
	s.live.end(t.ID, errTokenRevoked)
	writeJSON(w, http.StatusOK, t.Info())
}

// liveTokens tracks the streams open under each token, so that revoking a
// token ends them at once.
type liveTokens struct {
	mu      sync.Mutex
	streams map[string]map[*context.CancelCauseFunc]struct{}
}

// watch registers a stream's cancel under token id; the returned func
// unregisters it.
func (l *liveTokens) watch(id string, cancel context.CancelCauseFunc) func() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.streams == nil {
		l.streams = map[string]map[*context.CancelCauseFunc]struct{}{}
	}
	m := l.streams[id]
	if m == nil {
		m = map[*context.CancelCauseFunc]struct{}{}
		l.streams[id] = m
	}
	key := &cancel
	m[key] = struct{}{}
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		delete(m, key)
		if len(m) == 0 {
			delete(l.streams, id)
		}
	}
}

func (l *liveTokens) end(id string, cause error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.streams[id] {
		(*c)(cause)
	}
}

// guardStream ends ctx's stream when who's token expires or is revoked.
// The returned func releases the guard.
func (s *Server) guardStream(who *principal, cancel context.CancelCauseFunc) func() {
	if who == nil || who.admin {
		return func() {}
	}
	unwatch := s.live.watch(who.token.ID, cancel)
	if who.token.ExpiresAt.IsZero() {
		return unwatch
	}
	t := time.AfterFunc(time.Until(who.token.ExpiresAt), func() { cancel(errTokenExpired) })
	return func() { t.Stop(); unwatch() }
}
