// Package stream serves the hub's SSE endpoints: configured streams
// (GET /{name}/…), GET /events?topic=… and GET /stream/{token}, each as an
// event stream or, for a client that asks for JSON, a page of history. It
// writes a stream's hello, replays from Last-Event-ID, streams live events
// with heartbeats, and hands an HTTP/1.1 stream (cleartext or TLS) to a pump of shared
// writers after its headers (see internal/pump), so an idle stream holds no
// goroutine.
package stream

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/emitter"
	"github.com/ssehub/ssehub/envelope"
	"github.com/ssehub/ssehub/format"
	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/internal/pump"
	"github.com/ssehub/ssehub/sse"
)

// Endpoint is a configured SSE endpoint.
type Endpoint struct {
	// Name is the stream's name; Path its URL path, e.g. "/alerts/live".
	Name string
	Path string
	// Match bounds the topics the stream may carry; ?event_type= narrows it.
	Match ssehub.Filter
	// Format renders events; nil is envelope.
	Format format.Format
	// Replay honours Last-Event-ID; false is fire-and-forget (live only,
	// and no history page).
	Replay bool
	// EpochIDs sends ids with the log's epoch ("42@k3x9").
	EpochIDs bool
	// Heartbeat is the idle interval before a heartbeat; 0 = none.
	Heartbeat time.Duration
	// HeartbeatStyle is "event" (event: heartbeat, data: ping),
	// "empty" (event: heartbeat, empty data: BoilStream's) or "comment"
	// (:keepalive).
	HeartbeatStyle string
	// Hello is what a new connection gets first: "info" (event: info,
	// data: connected), "comment" (: connected) or "none".
	Hello string
	// Retry is sent once at connect when positive.
	Retry time.Duration
	// Public streams need no token.
	Public bool
	// CORSOrigins, when set, replace the server's allowed origins for this stream.
	CORSOrigins []string
	// Init "last" sends, after the hello and before any other event, one
	// "event: init" per matching topic with the topic's latest event up to
	// where the stream continues (its current state; see init.go).
	// InitMaxTopics bounds the init events of one connection (default
	// 1000).
	Init          string
	InitMaxTopics int
	// KeepaliveComment is the text of the "comment" heartbeat style:
	// ":keepalive" and a blank line by default, as the emitter sends it.
	KeepaliveComment string

	pumpConfig *pump.Config // how the pump writes it; shared by its connections
	hello      []byte
}

// prepare fills what an endpoint's connections share.
func (e *Endpoint) prepare() {
	if e.Format == nil {
		e.Format = format.Envelope
	}
	if e.Init != "" && e.InitMaxTopics <= 0 {
		e.InitMaxTopics = 1000
	}
	e.pumpConfig = &pump.Config{Heartbeat: e.Heartbeat, Ping: heartbeatBytes(e), Chunked: true}
	switch e.Hello {
	case "info":
		e.hello, _ = sse.AppendEvent(nil, &sse.Event{Type: "info", Data: []byte("connected")})
	case "comment":
		e.hello = append(sse.AppendComment(nil, "connected"), '\n')
	}
	if e.Retry > 0 {
		e.hello = append(sse.AppendRetry(e.hello, e.Retry), '\n')
	}
}

// Options configure the stream feature.
type Options struct {
	// Streams are the configured streams.
	Streams []Endpoint
	// Events configures GET /events (its Match is taken from ?topic=);
	// zero means DefaultEvents.
	Events Endpoint
	// TokenStream configures GET /stream/{token} (its Match is the token's
	// scope); zero means DefaultTokenStream.
	TokenStream Endpoint
	// WriteTimeout bounds one write to a subscriber; a client that accepts
	// nothing for that long is disconnected. Default 60 s.
	WriteTimeout time.Duration
	// GoroutinePerStream keeps a goroutine (net/http's) for every stream.
	// By default an HTTP/1.1 stream on Linux (cleartext, or TLS from a
	// pump.TLSListener) is handed, after its headers, to a few shared
	// workers, so an idle stream costs a few KiB instead of tens.
	GoroutinePerStream bool
	// Workers and MaxClientBytes tune the pump (see pump.Options).
	Workers        int
	MaxClientBytes int
	// Compression compresses event streams for clients that accept it
	// (Accept-Encoding); "" is CompressionOff.
	Compression Compression
	// MaxPageEvents bounds the events of one JSON history page (?limit=);
	// default 1000.
	MaxPageEvents int
	// MaxPageBytes bounds the bytes of one JSON history page; it ends
	// early, with a next cursor, past it. Default 4 MiB.
	MaxPageBytes int
	// FormatFor, when set, picks the format of GET /stream/{token} from the
	// token's topics while TokenStream's Format is the default raw (nil:
	// unchanged); a format with a HeartbeatStyle() method sets the style.
	FormatFor func(ctx context.Context, f ssehub.Filter) format.Format
}

// DefaultEvents is how GET /events streams unless configured otherwise:
// raw format, replay on, a ": connected" comment first, a ":keepalive"
// comment after 30 s idle.
var DefaultEvents = Endpoint{Name: "events", Path: "/events", Format: format.Raw, Replay: true,
	Heartbeat: 30 * time.Second, HeartbeatStyle: "comment", Hello: "comment"}

// DefaultTokenStream is how GET /stream/{token} streams, BoilStream style:
// raw format, replay on, and "event: heartbeat" every 15 s of idle.
var DefaultTokenStream = Endpoint{Name: "stream", Path: "/stream/", Format: format.Raw, Replay: true,
	Heartbeat: 15 * time.Second, HeartbeatStyle: "event", Hello: "comment"}

// Feature serves the streams; create it with New.
type Feature struct {
	opts Options
	s    *httpapi.Server

	pumps *pump.Lazy // started by the first detached stream
	// counters count the detached streams' writes, across pumps.
	counters pump.Counters

	goMu       sync.Mutex
	goStreams  *goStream // the streams that keep their goroutine, linked
	goClosed   bool      // Shutdown stopped them; later ones stop at once
	sweeping   bool      // sweep runs
	sweepEvery time.Duration
}

// New returns the stream feature for opts.
func New(opts Options) *Feature {
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 60 * time.Second
	}
	if opts.Events.Path == "" {
		opts.Events = DefaultEvents
	}
	if opts.TokenStream.Path == "" {
		opts.TokenStream = DefaultTokenStream
	}
	if opts.MaxPageEvents <= 0 {
		opts.MaxPageEvents = 1000
	}
	if opts.MaxPageBytes <= 0 {
		opts.MaxPageBytes = 4 << 20
	}
	opts.Streams = append([]Endpoint(nil), opts.Streams...) // the caller's slice stays as it was
	for i := range opts.Streams {
		opts.Streams[i].prepare()
	}
	opts.Events.prepare()
	opts.TokenStream.prepare()
	es := []*Endpoint{&opts.Events, &opts.TokenStream}
	for i := range opts.Streams {
		es = append(es, &opts.Streams[i])
	}
	return &Feature{opts: opts, sweepEvery: sweepInterval(es...)}
}

// Register implements httpapi.Feature.
func (f *Feature) Register(s *httpapi.Server) error {
	f.s = s
	f.pumps = pump.NewLazy(pump.Options{WriteTimeout: f.opts.WriteTimeout, Counters: &f.counters,
		Workers: f.opts.Workers, MaxClientBytes: f.opts.MaxClientBytes},
		func(err error) { s.Logger().Info("streams keep a goroutine each", "reason", err) })
	s.Route("/events", httpapi.Methods{"GET": f.handleEvents})
	s.Route("/stream/{token}", httpapi.Methods{"GET": f.handleTokenStream})
	for i := range f.opts.Streams {
		e := &f.opts.Streams[i]
		if e.Path == "" || e.Path[0] != '/' {
			return fmt.Errorf("stream %s: path %q must start with /", e.Name, e.Path)
		}
		pattern := e.Path
		if pattern[len(pattern)-1] == '/' {
			pattern += "{$}"
		}
		s.Route(pattern, httpapi.Methods{"GET": func(w http.ResponseWriter, r *http.Request) { f.handleStream(w, r, e) }})
	}
	s.OnShutdown(f.pumps.Close)
	s.OnShutdown(f.closeGoStreams)
	if reg := s.Registerer(); reg != nil {
		c := &f.counters
		reg.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ssehub_stream_writes_total",
				Help: "Writes to detached streams (each carries every event ready for that stream)."}, func() float64 { return float64(c.Writes.Load()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ssehub_stream_write_bytes_total",
				Help: "Bytes written to detached streams."}, func() float64 { return float64(c.Bytes.Load()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ssehub_stream_tls_own_records_total",
				Help: "Detached TLS streams whose records the pump seals itself, the tls.Conn dropped after the headers."}, func() float64 { return float64(c.TLSOwnRecords.Load()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ssehub_stream_tls_crypto_tls_total",
				Help: "Detached TLS streams whose records crypto/tls seals (TLS 1.2, or a hand-off not proven safe)."}, func() float64 { return float64(c.TLSCryptoTLS.Load()) }),
		)
	}
	return nil
}

// heartbeatBytes is what e sends after its heartbeat interval of idle.
func heartbeatBytes(e *Endpoint) []byte {
	if e.HeartbeatStyle == "comment" {
		return emitter.KeepAliveBytes(e.KeepaliveComment)
	}
	if e.HeartbeatStyle == "empty" {
		return []byte("event: heartbeat\ndata:\n\n")
	}
	b, _ := sse.AppendEvent(nil, &sse.Event{Type: "heartbeat", Data: []byte("ping")})
	return b
}

// errorEvent renders an error event: {"code":…,"message":…}. Browsers
// deliver it to the same "error" listener as connection errors, which
// carry no data.
func errorEvent(code, message string) []byte {
	data := make([]byte, 0, 64+len(message))
	data = append(data, `{"code":`...)
	data = envelope.AppendString(data, code)
	data = append(data, `,"message":`...)
	data = envelope.AppendString(data, message)
	data = append(data, '}')
	b, _ := sse.AppendEvent(nil, &sse.Event{Type: "error", Data: data})
	return b
}
