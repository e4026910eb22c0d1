package ui

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/hub"
)

// connectionJSON is one open subscription in GET /ui/api/connections.
type connectionJSON struct {
	Stream   string    `json:"stream"`
	Client   string    `json:"client"`
	Topics   []string  `json:"topics"`
	Format   string    `json:"format"`
	EpochIDs bool      `json:"epoch_ids,omitempty"`
	TokenID  string    `json:"token_id,omitempty"`
	Since    time.Time `json:"since,omitzero"`
	State    string    `json:"state"`
	Queued   int       `json:"queued"`
	// Position and Lag are absent while the hub cannot tell them without
	// stopping the subscription's writer (see hub.Connection).
	Position string  `json:"position,omitempty"`
	Lag      *uint64 `json:"lag,omitempty"`
}

// handleConnections serves GET /ui/api/connections?limit=N: the open
// subscriptions of this node, oldest first, with the stream and client
// that opened them, where they are and how far behind the head. It needs
// an admin token; a scoped admin token sees the subscriptions whose topics
// are all within its scope.
func (f *Feature) handleConnections(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	p, ok := f.s.Authenticate(w, r)
	if !ok {
		return
	}
	if !p.Admin && !p.Token.Purpose.Allows(auth.PurposeAdmin) {
		httpapi.WriteError(w, http.StatusForbidden, httpapi.CodeForbidden, "the token's purpose is "+string(p.Token.Purpose)+"; this needs admin")
		return
	}
	limit := f.opts.MaxConnections
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > f.opts.MaxConnections {
			httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadRequest, fmt.Sprintf("limit must be a number from 1 to %d", f.opts.MaxConnections))
			return
		}
		limit = n
	}
	h := f.s.Hub()
	scope := p.Scope()
	all := h.Connections()
	list := all[:0]
	for _, c := range all {
		if scope.Covers(c.Filter) {
			list = append(list, c)
		}
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].Since.Before(list[j].Since) })
	out := struct {
		Head        string           `json:"head"`
		Total       int              `json:"total"`
		Truncated   bool             `json:"truncated,omitempty"`
		Connections []connectionJSON `json:"connections"`
	}{Head: strconv.FormatUint(h.Head(), 10), Total: len(list), Connections: []connectionJSON{}}
	if len(list) > limit {
		list, out.Truncated = list[:limit], true
	}
	for _, c := range list {
		cj := connectionJSON{Stream: c.Stream, Client: c.Client, Topics: patterns(c), Format: c.Format,
			EpochIDs: c.EpochIDs, TokenID: c.TokenID, Since: c.Since, State: string(c.State), Queued: c.Queued}
		if lag, ok := c.Lag(); ok {
			cj.Position = strconv.FormatUint(c.Position, 10)
			cj.Lag = &lag
		}
		out.Connections = append(out.Connections, cj)
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
}

// patterns returns a connection's topic patterns as text.
func patterns(c hub.Connection) []string {
	ps := c.Filter.Patterns()
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}
