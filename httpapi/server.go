// Package httpapi composes the hub's HTTP surface. A Server owns what every
// endpoint shares: authentication (tokens, the admin token, the token
// cookie and its CSRF check), limits, CORS, the access log with secrets
// redacted, JSON errors, health and metrics. Features register their routes
// on it: package httpapi/stream serves SSE streams and history pages,
// httpapi/publish the publish endpoints, httpapi/admin topics and tokens.
// Adding an endpoint is one feature package and one line in the list of
// features a program passes to New.
//
// Handlers are thin: they parse and check a request, then call the hub.
package httpapi

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/emitter"
	"github.com/ssehub/ssehub/hub"
)

// A Feature adds routes to a Server.
type Feature interface {
	// Register adds the feature's routes (with Server.Route) and anything
	// it runs (with Server.OnShutdown). It is called once, by New.
	Register(s *Server) error
}

// Options configure a Server.
type Options struct {
	// Hub is the hub the endpoints act on.
	Hub *hub.Hub
	// Tokens keeps the issued tokens; nil means only the admin token works.
	Tokens *auth.Store
	// AdminHash is the SHA-256 of the admin token.
	AdminHash [32]byte
	// CORSOrigins are the origins allowed to read responses from a browser;
	// "*" is any origin, without credentials.
	CORSOrigins []string
	// Limits bound what one client may take.
	Limits Limits
	// BodyTimeout bounds reading a request's body (408 past it); default
	// DefaultBodyTimeout. It is not the http.Server's ReadTimeout, which
	// would end every long-lived stream too.
	BodyTimeout time.Duration
	// AccessLog logs each request, with secrets redacted, at info level.
	AccessLog bool
	// Logger receives the server's logs; default slog.Default().
	Logger *slog.Logger
	// Registerer, when set, receives the Prometheus metrics.
	Registerer prometheus.Registerer
	// Gatherer serves /metrics; default prometheus.DefaultGatherer.
	Gatherer prometheus.Gatherer
	// Features add the endpoints, in order.
	Features []Feature
}

// Server serves the hub over HTTP.
type Server struct {
	opts    Options
	hub     *hub.Hub
	mux     *http.ServeMux
	limits  *Limiter
	cors    emitter.CORS
	ctx     context.Context // canceled by Shutdown: every stream ends
	cancel  context.CancelFunc
	metrics *metrics

	mu       sync.Mutex
	routes   map[string]bool // paths routed, for 405s
	shutdown []func()

	conts      atomic.Int64 // len(contFns), read without contMu
	contMu     sync.Mutex
	contFns    map[*http.Request]func() // set by Continue until ServeHTTP takes them
	reserved   []reservation            // the events features own (reserved.go); fixed once New returns
	registered bool                     // New has returned: the features are registered
}

// New returns a server for opts with its features registered.
func New(opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Gatherer == nil {
		opts.Gatherer = prometheus.DefaultGatherer
	}
	s := &Server{opts: opts, hub: opts.Hub, mux: http.NewServeMux(), limits: newLimiter(opts.Limits),
		cors: emitter.CORS{Origins: opts.CORSOrigins, Credentials: true}, routes: map[string]bool{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.metrics = newMetrics(s, opts.Registerer)
	s.Route("/healthz", Methods{"GET": s.handleHealth})
	s.Route("/readyz", Methods{"GET": s.handleReady})
	s.Route("/metrics", Methods{"GET": s.metricsHandler().ServeHTTP})
	s.sessionRoutes()
	for _, f := range opts.Features {
		if err := f.Register(s); err != nil {
			return nil, fmt.Errorf("httpapi: %T: %w", f, err)
		}
	}
	s.registered = true
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// Never echo the path: it may hold a token.
		WriteError(w, http.StatusNotFound, CodeNotFound, "no stream or endpoint at this path")
	})
	return s, nil
}

// Methods maps HTTP methods to the handlers of one path.
type Methods map[string]http.HandlerFunc

// Route serves path (a net/http ServeMux pattern without a method) with a
// handler per method; every other method gets 405 with an Allow header.
// GET routes answer HEAD as well.
func (s *Server) Route(path string, m Methods) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var allow []string
	for method, h := range m {
		s.mux.HandleFunc(method+" "+path, h)
		allow = append(allow, method)
		if method == http.MethodGet {
			allow = append(allow, http.MethodHead)
		}
	}
	sort.Strings(allow)
	if !s.routes[path] {
		s.routes[path] = true
		list := strings.Join(allow, ", ")
		s.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", list)
			WriteError(w, http.StatusMethodNotAllowed, CodeMethod, "method "+r.Method+" is not allowed here; use "+list)
		})
	}
}

// OnShutdown adds fn to what Shutdown runs, after the server's context is
// canceled; a feature that runs something (a pump of streams) stops it there.
func (s *Server) OnShutdown(fn func()) {
	s.mu.Lock()
	s.shutdown = append(s.shutdown, fn)
	s.mu.Unlock()
}

// Hub returns the hub.
func (s *Server) Hub() *hub.Hub { return s.hub }

// Tokens returns the token store, or nil.
func (s *Server) Tokens() *auth.Store { return s.opts.Tokens }

// Logger returns the server's logger.
func (s *Server) Logger() *slog.Logger { return s.opts.Logger }

// Limiter returns the server's limits.
func (s *Server) Limiter() *Limiter { return s.limits }

// CORS returns the server's cross-origin policy.
func (s *Server) CORS() emitter.CORS { return s.cors }

// Context is canceled when the server shuts down.
func (s *Server) Context() context.Context { return s.ctx }

// Registerer returns where metrics are registered, or nil.
func (s *Server) Registerer() prometheus.Registerer { return s.opts.Registerer }

// ServeHTTP implements http.Handler. Its own frame stays small: a stream
// that keeps its goroutine waits under it, and the runtime halves an idle
// goroutine's stack only when less than a quarter of it is in use
// (docs/tls-streams.md).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.opts.AccessLog || hasBody(r) {
		s.serveTracked(w, r)
		return
	}
	if s.admit(w, r) {
		s.mux.ServeHTTP(w, r)
		if s.conts.Load() > 0 {
			if fn := s.continuation(r); fn != nil {
				fn()
			}
		}
	}
}

// Continue has fn run once r's handler has returned, on its goroutine, as
// the last thing ServeHTTP does: a response that goes on for long (a
// stream that keeps its goroutine) then waits with only ServeHTTP's frame
// above net/http's, so that the runtime can halve the goroutine's stack
// while it waits. A handler served by s calls it at most once per request,
// as the last thing it does.
func (s *Server) Continue(r *http.Request, fn func()) {
	s.contMu.Lock()
	if s.contFns == nil {
		s.contFns = map[*http.Request]func(){}
	}
	s.contFns[r] = fn
	s.contMu.Unlock()
	s.conts.Add(1)
}

// continuation takes the function Continue set for r, or nil.
//
//go:noinline
func (s *Server) continuation(r *http.Request) func() {
	s.contMu.Lock()
	fn, ok := s.contFns[r]
	if ok {
		delete(s.contFns, r)
	}
	s.contMu.Unlock()
	if ok {
		s.conts.Add(-1)
	}
	return fn
}

// serveTracked serves a request with an access log line or a body.
//
//go:noinline
func (s *Server) serveTracked(w http.ResponseWriter, r *http.Request) {
	if s.opts.AccessLog {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK, start: time.Now()}
		defer func() {
			if !rec.detached { // a detached stream logs when it ends
				s.LogRequest(r, rec.status, rec.start)
			}
		}()
		w = rec
	}
	if hasBody(r) {
		// net/http reads what a handler left of a body (up to 256 KiB) to
		// reuse the connection: bound that too, or a client answered
		// early (401, 400, 413) holds the connection by dribbling.
		body := &trackedBody{ReadCloser: r.Body}
		r.Body = body
		defer func() {
			// net/http's own body back: what net/http does with the rest
			// depends on its type (past 256 KiB unread it answers at once
			// and closes gracefully; hidden, it read 256 KiB of a body it
			// refused first, and reset a client still sending).
			r.Body = body.ReadCloser
			if !body.ended {
				s.boundBodyDiscard(w)
			}
		}()
	}
	if s.admit(w, r) {
		s.mux.ServeHTTP(w, r)
		if fn := s.continuation(r); fn != nil {
			fn()
		}
	}
}

// admit answers what is answered before routing (a path that is not
// canonical, a CORS preflight) and reports whether r goes on to its route.
//
//go:noinline
func (s *Server) admit(w http.ResponseWriter, r *http.Request) bool {
	if !canonicalPath(r.URL.EscapedPath()) { // as ServeMux cleans it: %2F inside a segment is data
		// Not net/http's redirect to the cleaned path: its Location and
		// body would repeat a token the path may hold.
		WriteError(w, http.StatusNotFound, CodeNotFound, "no stream or endpoint at this path: paths are matched as sent, without //, /./ or /../")
		return false
	}
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		s.preflight(w, r)
		return false
	}
	s.cors.Apply(w.Header(), r)
	return true
}

// hasBody reports whether r may still have body bytes to come. An HTTP/2
// request always has a Body, but one whose headers ended the stream has
// ContentLength 0, and HTTP/2 holds a body to its declared length.
func hasBody(r *http.Request) bool {
	return r.Body != nil && r.Body != http.NoBody && (r.ProtoMajor != 2 || r.ContentLength != 0)
}

// trackedBody tells whether a handler read its body to the end or to an
// error (after which ReadBody leaves the read deadline passed).
type trackedBody struct {
	io.ReadCloser
	ended bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.ended = true
	}
	return n, err
}

// boundBodyDiscard gives what is left of a request's body the body timeout
// to arrive once the handler returned (nothing, for a hijacked stream).
func (s *Server) boundBodyDiscard(w http.ResponseWriter) {
	d := s.opts.BodyTimeout
	if d <= 0 {
		d = DefaultBodyTimeout
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
}

// Shutdown ends every open stream, so clients reconnect elsewhere or later,
// and runs the features' shutdown functions. The http.Server's own Shutdown
// then waits for the handlers to return.
func (s *Server) Shutdown() {
	s.cancel()
	s.mu.Lock()
	fns := s.shutdown
	s.shutdown = nil
	s.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// ObserveCommit records one append's latency; pass it as hub.Options.OnCommit.
func (s *Server) ObserveCommit(d time.Duration, events int) {
	s.metrics.observeCommit(d, events)
}

// preflight answers a CORS preflight for an allowed origin: GET streams,
// POST publishes, PUT, HEAD and DELETE (Durable Streams too), with the
// headers those need.
func (s *Server) preflight(w http.ResponseWriter, r *http.Request) {
	s.cors.Apply(w.Header(), r)
	if w.Header().Get("Access-Control-Allow-Origin") == "" {
		WriteError(w, http.StatusForbidden, CodeForbidden, "origin not allowed")
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, DELETE, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID, Idempotency-Key, Cache-Control, "+CSRFHeader+", "+
		// The request headers of Durable Streams (httpapi/durable).
		"If-None-Match, Stream-Seq, Stream-TTL, Stream-Expires-At, Stream-Closed, Stream-Forked-From, Stream-Fork-Offset, "+
		"Stream-Fork-Sub-Offset, Producer-Id, Producer-Epoch, Producer-Seq")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}
