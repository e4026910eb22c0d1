// Package httpapi is the hub's HTTP surface: publish, subscribe (SSE or a
// JSON page of history), configured streams, topics, health and metrics.
// Handlers are thin: they parse and check a request, then call the hub.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/pump"
)

// Stream is a configured SSE endpoint.
type Stream struct {
	// Name is the stream's name; Endpoint its URL path, e.g. "/alerts/live".
	Name     string
	Endpoint string
	// Match bounds the topics the stream may carry; ?event_type= narrows it.
	Match ssehub.Patterns
	// Format renders events.
	Format hub.Format
	// Replay honours Last-Event-ID; false is fire-and-forget (live only).
	Replay bool
	// Heartbeat is the idle interval before a heartbeat; 0 = none.
	Heartbeat time.Duration
	// HeartbeatStyle is "event" (event: heartbeat, data: ping) or "comment" (:keepalive).
	HeartbeatStyle string
	// Hello is what a new connection gets first: "info" (event: info,
	// data: connected), "comment" or "none".
	Hello string
	// Retry is sent once at connect when positive.
	Retry time.Duration
	// Public streams need no token.
	Public bool
	// CORSOrigins, when set, replace the server's allowed origins for this stream.
	CORSOrigins []string

	pumpConfig *pump.Config // how the pump writes it; set by New, shared by its connections
}

// withPumpConfig sets st's pump configuration from its heartbeat.
func withPumpConfig(st *Stream) {
	st.pumpConfig = &pump.Config{Heartbeat: st.Heartbeat, Ping: heartbeatBytes(st), Chunked: true}
}

// Options configure a Server.
type Options struct {
	Hub *hub.Hub
	// KV keeps the hub's state (deregistered topics).
	KV ssehub.KV
	// AdminHash is the SHA-256 of the admin token.
	AdminHash [32]byte
	// Streams are the configured streams.
	Streams []Stream
	// Events configures GET /events (its Match is taken from ?topic=).
	Events Stream
	// TokenStream configures GET /stream/{token} (its Match is the token's scope).
	TokenStream Stream
	// MaxBodyBytes bounds a publish request body (413 past it). Default 1 MiB.
	MaxBodyBytes int64
	// MaxBatchEvents bounds the events of one NDJSON batch. Default 10000.
	MaxBatchEvents int
	// CORSOrigins are the origins allowed to subscribe from a browser; "*" is any.
	CORSOrigins []string
	// Limits bound rates and streams per client.
	Limits Limits
	// AccessLog logs each request (with ?token= redacted) at info level.
	AccessLog bool
	// WriteTimeout bounds one write to a subscriber; a client that accepts
	// nothing for that long is disconnected. Default 60 s.
	WriteTimeout time.Duration
	// GoroutinePerStream keeps a goroutine (net/http's) for every stream.
	// By default a plain HTTP/1.1 stream on Linux is handed, after its
	// headers, to a few shared workers, so an idle stream costs a few
	// KiB instead of tens.
	GoroutinePerStream bool
	// Logger receives request logs; default slog.Default().
	Logger *slog.Logger
	// Registerer, when set, receives the Prometheus metrics.
	Registerer prometheus.Registerer
	// Gatherer serves /metrics; default prometheus.DefaultGatherer.
	Gatherer prometheus.Gatherer
}

// Server serves the hub over HTTP.
type Server struct {
	Options
	hub     *hub.Hub
	mux     *http.ServeMux
	tokens  *auth.Store // nil without a KV
	limits  *limiter
	live    liveTokens
	ctx     context.Context // canceled by Shutdown: every stream ends
	cancel  context.CancelFunc
	metrics *metrics

	pumpMu sync.Mutex
	pump   *pump.Pump // started by the first detached stream
	// pumpCounters count the detached streams' writes, across pumps.
	pumpCounters pump.Counters
	noPump       bool // streams keep their goroutine
	// detaching counts handlers between pumpFor and the end of serveDetached.
	detaching sync.WaitGroup
}

// DefaultEvents is how GET /events streams unless configured otherwise:
// raw format, replay on, a ": connected" comment first, a ":keepalive"
// comment after 30 s idle.
var DefaultEvents = Stream{Name: "events", Endpoint: "/events", Format: hub.FormatRaw, Replay: true,
	Heartbeat: 30 * time.Second, HeartbeatStyle: "comment", Hello: "comment"}

// DefaultTokenStream is how GET /stream/{token} streams, BoilStream style:
// raw format, replay on, and "event: heartbeat" every 15 s of idle.
var DefaultTokenStream = Stream{Name: "stream", Endpoint: "/stream/", Format: hub.FormatRaw, Replay: true,
	Heartbeat: 15 * time.Second, HeartbeatStyle: "event", Hello: "comment"}

// New returns a server for opts.
func New(opts Options) *Server {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	if opts.MaxBatchEvents <= 0 {
		opts.MaxBatchEvents = 10000
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 60 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Events.Endpoint == "" {
		opts.Events = DefaultEvents
	}
	if opts.TokenStream.Endpoint == "" {
		opts.TokenStream = DefaultTokenStream
	}
	if opts.Gatherer == nil {
		opts.Gatherer = prometheus.DefaultGatherer
	}
	s := &Server{Options: opts, hub: opts.Hub, mux: http.NewServeMux(), limits: newLimiter(opts.Limits)}
	if opts.KV != nil {
		s.tokens = auth.NewStore(opts.KV)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.metrics = newMetrics(opts.Hub, &s.pumpCounters, opts.Registerer)
	withPumpConfig(&s.Events)
	withPumpConfig(&s.TokenStream)
	s.Streams = append([]Stream(nil), s.Streams...) // the caller's slice stays as it was
	for i := range s.Streams {
		withPumpConfig(&s.Streams[i])
	}
	s.routes()
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.AccessLog {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK, start: time.Now()}
		defer func() {
			if !rec.detached { // a detached stream logs when it ends
				s.logRequest(r, rec.status, rec.start)
			}
		}()
		w = rec
	}
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		s.preflight(w, r)
		return
	}
	s.setCORS(w, r)
	s.mux.ServeHTTP(w, r)
}

// logRequest writes r's access log line.
func (s *Server) logRequest(r *http.Request, status int, start time.Time) {
	s.Logger.Info("request", "method", r.Method, "path", RedactURL(r.URL), "status", status,
		"remote", r.RemoteAddr, "duration", time.Since(start))
}

// Shutdown ends every open stream, so clients reconnect elsewhere or later,
// and waits for the detached ones to close. The http.Server's own Shutdown
// then waits for the handlers to return.
func (s *Server) Shutdown() {
	s.cancel()
	s.closePump()
}

// ObserveCommit records one append's latency; pass it as hub.Options.OnCommit.
func (s *Server) ObserveCommit(d time.Duration, events int) {
	s.metrics.observeCommit(d, events)
}

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("POST /publish/{topic}", s.handlePublishTopic)
	m.HandleFunc("/publish/{topic}", methodNotAllowed("POST"))
	m.HandleFunc("POST /publish", s.handlePublish)
	m.HandleFunc("/publish", methodNotAllowed("POST"))
	m.HandleFunc("GET /events", s.handleEvents)
	m.HandleFunc("/events", methodNotAllowed("GET"))
	m.HandleFunc("GET /api/topics", s.handleTopics)
	m.HandleFunc("DELETE /api/topics/{topic}", s.handleDeleteTopic)
	m.HandleFunc("/api/topics/{topic}", methodNotAllowed("DELETE"))
	m.HandleFunc("POST /api/tokens", s.handleCreateToken)
	m.HandleFunc("GET /api/tokens", s.handleListTokens)
	m.HandleFunc("/api/tokens", methodNotAllowed("GET, POST"))
	m.HandleFunc("DELETE /api/tokens/{id}", s.handleRevokeToken)
	m.HandleFunc("/api/tokens/{id}", methodNotAllowed("DELETE"))
	m.HandleFunc("GET /stream/{token}", s.handleTokenStream)
	m.HandleFunc("/stream/{token}", methodNotAllowed("GET"))
	m.HandleFunc("GET /healthz", s.handleHealth)
	m.HandleFunc("GET /readyz", s.handleReady)
	m.Handle("GET /metrics", s.metricsHandler())
	for _, st := range s.Streams {
		st := st
		pattern := st.Endpoint
		if pattern[len(pattern)-1] == '/' {
			pattern += "{$}"
		}
		m.HandleFunc("GET "+pattern, func(w http.ResponseWriter, r *http.Request) { s.handleStream(w, r, &st) })
		m.HandleFunc(pattern, methodNotAllowed("GET"))
	}
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, codeNotFound, "no stream or endpoint at "+r.URL.Path)
	})
}
