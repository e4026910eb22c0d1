// Package admin serves the operator's endpoints: topics (list, one topic,
// deregister) and tokens (create, list, revoke). They need a token of
// purpose admin; an admin token issued with a scope sees and acts on the
// topics and tokens within that scope only.
package admin

import (
	"context"
	"net/http"
	"time"

	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/httpapi"
)

// Options configure the admin feature.
type Options struct {
	// MaxTTL bounds a token's lifetime; default 100 years.
	MaxTTL time.Duration
	// MaxLabelLen bounds a token's label in bytes; default 256.
	MaxLabelLen int
	// MaxTopicsPage bounds a page of GET /api/topics; default 1000.
	MaxTopicsPage int
	// TopicDetails, when set, adds keys (e.g. an Arrow topic's "schema") to
	// GET /api/topics/{topic}'s JSON; the built-in keys win.
	TopicDetails func(ctx context.Context, topic string) (map[string]any, error)
}

// Feature serves the admin endpoints; create it with New.
type Feature struct {
	opts Options
	s    *httpapi.Server
}

// New returns the admin feature for opts.
func New(opts Options) *Feature {
	if opts.MaxTTL <= 0 {
		opts.MaxTTL = 100 * 365 * 24 * time.Hour
	}
	if opts.MaxLabelLen <= 0 {
		opts.MaxLabelLen = 256
	}
	if opts.MaxTopicsPage <= 0 {
		opts.MaxTopicsPage = 1000
	}
	return &Feature{opts: opts}
}

// Register implements httpapi.Feature.
func (f *Feature) Register(s *httpapi.Server) error {
	f.s = s
	s.Route("/api/topics", httpapi.Methods{"GET": f.handleTopics})
	s.Route("/api/topics/{topic}", httpapi.Methods{"GET": f.handleTopic, "DELETE": f.handleDeleteTopic})
	s.Route("/api/tokens", httpapi.Methods{"GET": f.handleListTokens, "POST": f.handleCreateToken})
	s.Route("/api/tokens/{id}", httpapi.Methods{"DELETE": f.handleRevokeToken})
	return nil
}

// admin authenticates r as a principal of purpose admin.
func (f *Feature) admin(w http.ResponseWriter, r *http.Request) (*httpapi.Principal, bool) {
	p, ok := f.s.Authenticate(w, r)
	if !ok {
		return nil, false
	}
	if !p.Admin && !p.Token.Purpose.Allows(auth.PurposeAdmin) {
		httpapi.WriteError(w, http.StatusForbidden, httpapi.CodeForbidden, "the token's purpose is "+string(p.Token.Purpose)+"; this needs admin")
		return nil, false
	}
	return p, true
}
