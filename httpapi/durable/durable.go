// Package durable serves ssehub's log as Durable Streams: ElectricSQL's
// HTTP protocol of durable, offset-addressed, resumable streams
// (https://github.com/durable-streams/durable-streams, PROTOCOL.md), at
//
//	PUT    /v1/stream/{name}   create (content type, TTL or expiry, closed, fork)
//	POST   /v1/stream/{name}   append (idempotent producers, Stream-Seq, close)
//	GET    /v1/stream/{name}   read from ?offset=, catch-up, live=long-poll or live=sse
//	HEAD   /v1/stream/{name}   metadata
//	DELETE /v1/stream/{name}   delete
//
// A stream is the ssehub topic TopicFor(name) ("ds." and the name), so
// ssehub's own subscribers see its appends as events; its offsets are the
// hub's event ids. Everything a stream is (configuration, closure, forks,
// producer sequence numbers) is recorded as events of that topic in the
// same batch as the data, so it survives any crash exactly as the data
// does. See docs/durable-streams.md.
package durable

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/hub"
)

// Path is the prefix of every stream's URL.
const Path = "/v1/stream/"

// Options configure the feature. Zero fields take the defaults.
type Options struct {
	// Disabled registers nothing: the endpoints are not served.
	Disabled bool
	// PublicRead lets requests without a token read every stream;
	// PublicWrite lets them create, append to, close, fork and delete
	// every stream. A request that presents a token is always checked.
	PublicRead, PublicWrite bool
	// LongPollTimeout is how long a long-poll waits (default 20 s); SSE
	// sends a keep-alive control event at this interval.
	LongPollTimeout time.Duration
	// SSEMaxDuration ends an SSE response after this long (default 60 s).
	SSEMaxDuration time.Duration
	// MaxBodyBytes bounds a PUT or POST body (default 1 MiB; 413 past it).
	MaxBodyBytes int64
	// MaxReadBytes bounds one catch-up response (default 1 MiB).
	MaxReadBytes int64
	// MaxProducers bounds the producers a stream remembers (default 10,000).
	MaxProducers int
	// WriteTimeout ends an SSE response whose client takes nothing for
	// this long (default 60 s, server.write_timeout).
	WriteTimeout time.Duration
	// Now is the clock of TTLs and expiry times; default time.Now.
	Now func() time.Time
	// Refresh, when positive, bounds how stale this node's view of a
	// stream may get for appends made elsewhere (other hub nodes on one
	// NATS log, POST /publish into a ds.* topic): a read older than this
	// reads the stream's topic again, and long-polls and SSE responses
	// look for such appends at this interval. Zero (one hub node): a write
	// through this node is seen at once, and the topic is read again
	// before each write.
	Refresh time.Duration
	// MaxCachedStreams bounds the streams whose state this node keeps in
	// memory (default 100,000): past it the least recently used idle ones
	// are dropped and loaded again from the log when next used.
	MaxCachedStreams int
	// NativeTopics are the patterns of the native topics (published with
	// POST /publish, not through this protocol) served as read-only JSON
	// streams at NativePath/<topic> (native.go). Empty: none. A pattern
	// that could match a topic of a protocol's reserved prefix (ds.*,
	// mercure.*, mercure_private.*, or "*") fails Register.
	NativeTopics []string
	// NativePath is the stream-name prefix of those views (default
	// "_topics": /v1/stream/_topics/orders.created). It is reserved
	// whether or not NativeTopics is set: no stream can be created,
	// written or deleted under it.
	NativePath string
	// NativePublicRead lets requests without a token read the views.
	// PublicRead does not open them: /events guards native topics with
	// tokens, and so do the views unless this says otherwise.
	NativePublicRead bool
}

// Feature is the Durable Streams endpoints.
type Feature struct {
	opts    Options
	s       *httpapi.Server
	reg     *registry
	native  ssehub.Filter // the topics NativeTopics exposes
	watches watches       // live reads of views (native.go)
}

// New returns the feature.
func New(opts Options) *Feature {
	if opts.LongPollTimeout <= 0 {
		opts.LongPollTimeout = 20 * time.Second
	}
	if opts.SSEMaxDuration <= 0 {
		opts.SSEMaxDuration = 60 * time.Second
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	if opts.MaxReadBytes <= 0 {
		opts.MaxReadBytes = 1 << 20
	}
	if opts.MaxProducers <= 0 {
		opts.MaxProducers = 10_000
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 60 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxCachedStreams <= 0 {
		opts.MaxCachedStreams = 100_000
	}
	if opts.NativePath == "" {
		opts.NativePath = DefaultNativePath
	}
	return &Feature{opts: opts}
}

// Register implements httpapi.Feature.
func (f *Feature) Register(s *httpapi.Server) error {
	if f.opts.Disabled {
		return nil
	}
	native, err := NativeFilter(f.opts.NativeTopics)
	if err != nil {
		return fmt.Errorf("durable streams: %w", err)
	}
	if err := ValidateNativePath(f.opts.NativePath); err != nil {
		return fmt.Errorf("durable streams: %w", err)
	}
	f.native = native
	if f.opts.NativePublicRead && !native.IsEmpty() {
		s.Logger().Warn("durable_streams.native_public_read is on: anyone who reaches the hub can read the native topics " + native.String() + " at " + Path + f.opts.NativePath + "/")
	}
	if f.opts.PublicWrite {
		s.Logger().Warn("durable_streams.public_write is on: anyone who reaches the hub can create, append to and delete every stream at " + Path)
	}
	f.s = s
	s.ReserveTypes(TopicPrefix+".", "ds.", "Durable Streams")
	f.reg = newRegistry(s.Hub())
	f.reg.now = f.opts.Now
	f.reg.log = s.Logger()
	f.reg.every = f.opts.Refresh
	f.reg.max = f.opts.MaxCachedStreams
	go f.warnShadowed(s.Context())
	if reg := s.Registerer(); reg != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ssehub_durable_streams_cached",
			Help: "Durable Streams whose state this node holds in memory."}, func() float64 { return float64(f.reg.cached()) }))
	}
	s.Route(Path+"{name...}", httpapi.Methods{
		http.MethodGet: f.serve, http.MethodHead: f.serve, http.MethodPut: f.serve,
		http.MethodPost: f.serve, http.MethodDelete: f.serve,
	})
	return nil
}

// Cached returns how many streams' state this node holds in memory.
func (f *Feature) Cached() int { return f.reg.cached() }

// exposed are the response headers a browser may read cross-origin.
const exposed = "Stream-Next-Offset, Stream-Cursor, Stream-Up-To-Date, Stream-Closed, Stream-TTL, Stream-Expires-At, " +
	"Stream-SSE-Data-Encoding, Producer-Epoch, Producer-Seq, Producer-Expected-Seq, Producer-Received-Seq, ETag, Location, Content-Type"

// ticker returns a channel that ticks every Refresh, or nil (never) when
// Refresh is off, and its stop function.
func (f *Feature) ticker() (<-chan time.Time, func()) {
	if f.opts.Refresh <= 0 {
		return nil, func() {}
	}
	t := time.NewTicker(f.opts.Refresh)
	return t.C, t.Stop
}

func (f *Feature) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	if h.Get("Access-Control-Allow-Origin") != "" {
		h.Set("Access-Control-Expose-Headers", exposed)
	}
	name := r.PathValue("name")
	if rest, ok := f.underNative(name); ok {
		f.serveView(w, r, name, rest)
		return
	}
	topic, err := TopicFor(name)
	if err != nil {
		httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadTopic, err.Error())
		return
	}
	switch r.Method {
	case http.MethodPut:
		f.create(w, r, name, topic)
	case http.MethodPost:
		f.append(w, r, name, topic)
	case http.MethodGet:
		f.read(w, r, name, topic)
	case http.MethodHead:
		f.head(w, r, name, topic)
	case http.MethodDelete:
		f.delete(w, r, name, topic)
	}
}

// authorize checks that r may read (write false) or write topics: a token
// of purpose stream (reads) or publish (writes) whose scope covers them,
// the admin token, or no token where the configuration makes that public.
func (f *Feature) authorize(w http.ResponseWriter, r *http.Request, write bool, topics ...string) (*httpapi.Principal, bool) {
	return f.authorizeAs(w, r, write, write && f.opts.PublicWrite || !write && f.opts.PublicRead, topics...)
}

// authorizeAs is authorize where public says whether a request without a
// token is let through.
func (f *Feature) authorizeAs(w http.ResponseWriter, r *http.Request, write, public bool, topics ...string) (*httpapi.Principal, bool) {
	if secret, _ := httpapi.TokenFrom(r); secret == "" && public {
		return nil, true
	}
	p, ok := f.s.Authenticate(w, r)
	if !ok {
		return nil, false
	}
	purpose := auth.PurposeStream
	if write {
		purpose = auth.PurposePublish
	}
	pats := make([]ssehub.Pattern, len(topics))
	for i, t := range topics {
		pats[i] = ssehub.MustPattern(t)
	}
	if !f.s.Permit(w, p, purpose, ssehub.NewFilter(pats...)) {
		return nil, false
	}
	return p, true
}

// fail writes a protocol error: status, ssehub's JSON error body.
func fail(w http.ResponseWriter, status int, msg string) {
	code := httpapi.CodeBadRequest
	switch status {
	case http.StatusNotFound:
		code = httpapi.CodeNotFound
	case http.StatusConflict:
		code = httpapi.CodeConflict
	case http.StatusGone:
		code = httpapi.CodeGone
	case http.StatusForbidden:
		code = httpapi.CodeForbidden
	case http.StatusMethodNotAllowed:
		code = httpapi.CodeMethod
	case http.StatusRequestEntityTooLarge:
		code = httpapi.CodeTooLarge
	case http.StatusTooManyRequests:
		code = httpapi.CodeRateLimited
	case http.StatusServiceUnavailable:
		code = httpapi.CodeUnavailable
	case http.StatusInternalServerError:
		code = httpapi.CodeInternal
	}
	httpapi.WriteError(w, status, code, msg)
}

// storeFailed answers a failed store call.
func (f *Feature) storeFailed(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return
	}
	switch {
	case errors.Is(err, ssehub.ErrUnavailable):
		w.Header().Set("Retry-After", "1")
		fail(w, http.StatusServiceUnavailable, "the store is unavailable; retry later")
	case errors.Is(err, ssehub.ErrTooLarge):
		fail(w, http.StatusRequestEntityTooLarge, "the append is larger than the store takes: "+err.Error())
	case errors.Is(err, hub.ErrGone):
		fail(w, http.StatusGone, "the topic of this stream has been deregistered")
	default:
		f.s.Logger().Error("durable streams: store", "err", err)
		fail(w, http.StatusInternalServerError, "the store failed")
	}
}

// isTrue reports whether a Stream-Closed value means closed: exactly
// "true", in any case; every other value is as if it were absent.
func isTrue(v string) bool { return strings.EqualFold(v, "true") }

// mediaType returns a content type's media type, lower case, without
// parameters.
func mediaType(ct string) string {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.ToLower(strings.TrimSpace(ct))
}

// isJSON reports whether a stream of content type ct is in JSON mode.
func isJSON(ct string) bool { return mediaType(ct) == "application/json" }

// isText reports whether SSE carries a stream of content type ct as text
// (else base64).
func isText(ct string) bool {
	m := mediaType(ct)
	return strings.HasPrefix(m, "text/") || m == "application/json"
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
