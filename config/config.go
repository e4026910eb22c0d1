// Package config loads the hub's YAML configuration: server, storage,
// auth, log and streams, plus an Inboxclaw `sink:` section read as streams
// with Inboxclaw's behaviour. ${VAR} and ${VAR:-default} expand from the
// environment before parsing; validation errors name the bad key.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/format"
	"gopkg.in/yaml.v3"
)

// Config is the whole configuration.
type Config struct {
	Server  Server  `yaml:"server"`
	Storage Storage `yaml:"storage"`
	Auth    Auth    `yaml:"auth"`
	Log     Log     `yaml:"log"`
	Limits  Limits  `yaml:"limits"`
	UI      UI      `yaml:"ui"`
	Mercure Mercure `yaml:"mercure"`
	// DurableStreams configures the Durable Streams endpoints (durable.go).
	DurableStreams DurableStreams `yaml:"durable_streams"`
	// Streams are the configured streams as written (defaults not yet
	// applied); AllStreams returns them resolved, with the sinks.
	Streams map[string]Stream `yaml:"streams"`
	// Sink is an Inboxclaw sink section; its sse entries are streams.
	Sink map[string]Sink `yaml:"sink"`
	// Warnings are things that loaded but were ignored (e.g. Inboxclaw
	// sinks of other types).
	Warnings []string `yaml:"-"`
}

// Server is the HTTP listener.
type Server struct {
	Addr         string   `yaml:"addr"`
	TLS          TLS      `yaml:"tls"`
	CORSOrigins  []string `yaml:"cors_origins"`
	MaxBodyBytes int64    `yaml:"max_body_bytes"`
	// ReadHeaderTimeout bounds reading a request's headers, so slow
	// clients cannot hold sockets.
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	// H2C serves cleartext HTTP/2 (prior knowledge) beside HTTP/1.1.
	H2C bool `yaml:"h2c"`
	// AccessLog logs every request, with tokens redacted.
	AccessLog bool `yaml:"access_log"`
	// GoroutinePerStream keeps net/http's goroutines for every stream
	// instead of handing plain HTTP/1.1 streams to the shared writers.
	GoroutinePerStream bool `yaml:"goroutine_per_stream"`
	// ReadBodyTimeout bounds reading a request's body (408 past it).
	ReadBodyTimeout Duration `yaml:"read_body_timeout"`
	// IdleTimeout closes a keep-alive connection that waits this long for
	// its next request.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// WriteTimeout closes a stream whose client accepts nothing for this long.
	WriteTimeout Duration `yaml:"write_timeout"`
	// StreamWorkers is how many goroutines write the detached streams
	// (0: one per CPU, at least 2).
	StreamWorkers int `yaml:"stream_workers"`
	// MaxClientBytes is how much a client may send on an open stream
	// before it is closed.
	MaxClientBytes int `yaml:"max_client_bytes"`
	// Compression compresses event streams for clients that accept it
	// (config/compression.go).
	Compression Compression `yaml:"compression"`
}

// Limits bound what one client can take; 0 is no limit. The admin token
// is exempt from the per-token and per-address limits.
type Limits struct {
	PublishRate     float64 `yaml:"publish_rate"`  // events/s per token
	PublishBurst    int     `yaml:"publish_burst"` // events
	StreamsPerToken int     `yaml:"streams_per_token"`
	StreamsPerAddr  int     `yaml:"streams_per_addr"`
	MaxConnections  int     `yaml:"max_connections"` // open TCP connections in all, idle or streaming (503 past it)
	MaxStreams      int     `yaml:"max_streams"`     // open streams in all (503 past it); 0 = max_connections
	MaxTopics       int     `yaml:"max_topics"`      // patterns in any list a client sends
	MaxTopicLen     int     `yaml:"max_topic_len"`   // bytes, at most 255
	MaxKeyLen       int     `yaml:"max_key_len"`     // bytes of an idempotency key
	MaxFieldLen     int     `yaml:"max_field_len"`   // bytes of type, entity, source
	MaxMetaBytes    int     `yaml:"max_meta_bytes"`  // bytes of meta
	MaxBatchEvents  int     `yaml:"max_batch_events"`
	MaxPageEvents   int     `yaml:"max_page_events"` // events of one JSON history page
	MaxPageBytes    int     `yaml:"max_page_bytes"`  // bytes of one JSON history page

	// MaxIngestBytes bounds one POST /ingest body (413 past it).
	MaxIngestBytes int64 `yaml:"max_ingest_bytes"`
}

// TLS configures HTTPS.
type TLS struct {
	Cert       string `yaml:"cert"`
	Key        string `yaml:"key"`
	SelfSigned bool   `yaml:"self_signed"`
}

// Storage selects and bounds the store.
type Storage struct {
	// Driver names a registered store driver (bolt, memory; see
	// ssehub.DriverNames). A URL ("nats://host:4222") is accepted too:
	// Validate moves it to URL and sets Driver to its scheme.
	Driver       string    `yaml:"driver"`
	Path         string    `yaml:"path"`
	Retention    Retention `yaml:"retention"`
	DedupeWindow Duration  `yaml:"dedupe_window"`
	// URL is the store's address when Driver was given as one.
	URL string `yaml:"-"`
	// Drivers holds each driver's own section (storage.<driver>: {...}),
	// as written; the driver decodes and checks it (StoreConfig.Settings).
	Drivers map[string]any `yaml:",inline"`
}

// Retention bounds history; zero is no limit.
type Retention struct {
	MaxEvents int64    `yaml:"max_events"`
	MaxBytes  int64    `yaml:"max_bytes"`
	MaxAge    Duration `yaml:"max_age"`
}

// Auth holds the admin token (usually "${SSEHUB_ADMIN_TOKEN}").
type Auth struct {
	AdminToken string `yaml:"admin_token"`
	// ExpiredRetention is how long an expired token stays listed before it
	// is deleted; nil means seven days (see ExpiredTokenRetention).
	ExpiredRetention *Duration `yaml:"expired_token_retention"`
}

// ExpiredTokenRetention returns auth.expired_token_retention, or seven
// days when it is not set.
func (a Auth) ExpiredTokenRetention() time.Duration {
	if a.ExpiredRetention == nil {
		return 7 * 24 * time.Hour
	}
	return time.Duration(*a.ExpiredRetention)
}

// Log configures the hub's logs.
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // text | json
}

// Stream is a configured SSE endpoint. Pointer fields distinguish "absent"
// (take the default) from an explicit zero or false.
type Stream struct {
	Name           string     `yaml:"-"`
	Match          StringList `yaml:"match"`
	Path           string     `yaml:"path"`
	Format         string     `yaml:"format"`
	ReplayOpt      *bool      `yaml:"replay"`
	HeartbeatOpt   *Duration  `yaml:"heartbeat"`
	HeartbeatStyle string     `yaml:"heartbeat_style"`
	Hello          string     `yaml:"hello"`
	RetryOpt       *Duration  `yaml:"retry"`
	PublicOpt      *bool      `yaml:"public"`
	CORSOrigins    []string   `yaml:"cors_origins"`
	// EpochIDs sends ids with the log's epoch ("42@k3x9") so a client
	// resuming against a recreated log is recognised.
	EpochIDs bool `yaml:"epoch_ids"`
	// Mode is "stream" (an SSE endpoint, the default) or "pull" (delivery
	// with confirmation: GET /{name}/extract and POST
	// /{name}/mark-processed, Inboxclaw's http_pull; see PullEndpoints).
	Mode string `yaml:"mode"`
	// Init is "" or "last": right after the hello, one "event: init" per
	// matching topic with the topic's latest event (its current state),
	// Hantera style; InitMaxTopics bounds how many topics a connection
	// gets (default 1000).
	Init          string `yaml:"init"`
	InitMaxTopics int    `yaml:"init_max_topics"`
	// KeepaliveComment is the text of a heartbeat_style: comment heartbeat
	// (":keepalive" by default, as Hantera and the emitter send it).
	KeepaliveComment string `yaml:"keepalive_comment"`
	// Lease, BatchSize and MaxBatchSize configure a mode: pull stream (see
	// Pull).
	Lease        *Duration `yaml:"lease"`
	BatchSize    int       `yaml:"batch_size"`
	MaxBatchSize int       `yaml:"max_batch_size"`

	// Resolved values, set by Parse.
	Replay    bool          `yaml:"-"`
	Heartbeat time.Duration `yaml:"-"`
	Retry     time.Duration `yaml:"-"`
	Public    bool          `yaml:"-"`
}

// Endpoint returns the stream's URL path: "/{name}/" plus its path.
func (s *Stream) Endpoint() string {
	return "/" + s.Name + "/" + strings.TrimPrefix(s.Path, "/")
}

// Default returns the configuration used without a file.
func Default() *Config {
	return &Config{
		Server: Server{Addr: ":8080", CORSOrigins: []string{"*"}, MaxBodyBytes: 1 << 20, ReadHeaderTimeout: Duration(10 * time.Second),
			ReadBodyTimeout: Duration(30 * time.Second), IdleTimeout: Duration(60 * time.Second), WriteTimeout: Duration(60 * time.Second), MaxClientBytes: 64 << 10},
		Limits: Limits{PublishRate: 1000, PublishBurst: 10000, StreamsPerToken: 100, StreamsPerAddr: 1000,
			MaxConnections: 20000, MaxStreams: 19000, MaxTopics: 32, MaxTopicLen: 255, MaxKeyLen: 256, MaxFieldLen: 1024,
			MaxMetaBytes: 16 << 10, MaxBatchEvents: 10000, MaxPageEvents: 1000, MaxPageBytes: 4 << 20, MaxIngestBytes: 128 << 10},
		Storage: Storage{Driver: "bolt", Path: "./data", Retention: Retention{MaxEvents: 10_000_000, MaxAge: Duration(168 * time.Hour)}, DedupeWindow: Duration(2 * time.Minute)},
		Log:     Log{Level: "info", Format: "text"},
	}
}

// Load reads and parses a config file.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(b)
}

var varRe = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}`)

// Expand replaces ${VAR} and ${VAR:-default} with environment values ($$
// is a literal $). An unset variable without a default becomes empty; a
// set but empty one takes the default, as in the shell. Anything else
// with a $ is left as is.
func Expand(s string) string {
	return varRe.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		sub := varRe.FindStringSubmatch(m)
		if v, ok := os.LookupEnv(sub[1]); ok && v != "" {
			return v
		}
		return sub[2]
	})
}

// Parse expands variables in data, decodes it over the defaults, rejects
// unknown keys, resolves stream defaults and validates.
func Parse(data []byte) (*Config, error) {
	cfg := Default()
	doc := []byte(Expand(string(data)))
	dec := yaml.NewDecoder(bytes.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, errEOF) {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, nameKeys(doc, err) // a syntax error: nothing was decoded
		}
		// Unknown keys and bad values: the rest was decoded, so report
		// what validation finds as well.
		return nil, errors.Join(nameKeys(doc, err), cfg.Validate())
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// AllStreams returns the streams and the Inboxclaw SSE sinks, resolved,
// sorted by name.
func (c *Config) AllStreams() []Stream {
	var out []Stream
	for name, st := range c.Streams {
		if st.Mode == ModePull {
			continue
		}
		st.Name = name
		out = append(out, resolveStream(st))
	}
	for name, sk := range c.Sink {
		if sk.Type != SinkSSE {
			continue
		}
		hb := Duration(30 * time.Second)
		if sk.HeartbeatTimeout != nil {
			hb = *sk.HeartbeatTimeout
		}
		public := true // Inboxclaw's SSE sink has no tokens: its config must work unchanged
		if sk.Public != nil {
			public = *sk.Public
		}
		replay, retry := false, Duration(0) // Inboxclaw sends no retry field
		out = append(out, resolveStream(Stream{Name: name, Match: sk.Match, Path: sk.Path, Format: InboxclawFormat,
			ReplayOpt: &replay, HeartbeatOpt: &hb, HeartbeatStyle: "event", Hello: "info", RetryOpt: &retry, PublicOpt: &public}))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func resolveStream(st Stream) Stream {
	if len(st.Match) == 0 {
		st.Match = StringList{"*"}
	}
	if st.Format == "" {
		st.Format = "envelope"
	}
	if st.HeartbeatStyle == "" && st.Format == "arrow" {
		st.HeartbeatStyle = "empty" // BoilStream's heartbeat: no data
	}
	if st.Hello == "" && st.Format == "arrow" {
		st.Hello = "comment" // the schema is the first event
	}
	if st.HeartbeatStyle == "" {
		st.HeartbeatStyle = "event"
	}
	if st.Mode == "" {
		st.Mode = ModeStream
	}
	if st.Init != "" && st.InitMaxTopics == 0 {
		st.InitMaxTopics = DefaultInitMaxTopics
	}
	if st.KeepaliveComment == "" {
		st.KeepaliveComment = DefaultKeepaliveComment
	}
	if st.Hello == "" {
		st.Hello = "info"
	}
	st.Replay = st.ReplayOpt == nil || *st.ReplayOpt
	st.Heartbeat = 30 * time.Second
	if st.Format == "arrow" {
		st.Heartbeat = 15 * time.Second // BoilStream's
	}
	if st.HeartbeatOpt != nil {
		st.Heartbeat = time.Duration(*st.HeartbeatOpt)
	}
	st.Retry = 3 * time.Second
	if st.RetryOpt != nil {
		st.Retry = time.Duration(*st.RetryOpt)
	}
	st.Public = st.PublicOpt != nil && *st.PublicOpt
	return st
}

var (
	nameRe    = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	segmentRe = regexp.MustCompile(`^[A-Za-z0-9._~-]+$`)
	reserved  = map[string]bool{"publish": true, "events": true, "stream": true, "ingest": true, "api": true,
		"metrics": true, "healthz": true, "readyz": true, "ui": true}
)

// checkPath reports whether a stream's path suffix is plain URL path
// segments: letters, digits, '.', '_', '~', '-', no empty, "." or ".."
// segment (a trailing slash is allowed), no query or fragment.
func checkPath(p string) error {
	segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, seg := range segs {
		if seg == "" && i == len(segs)-1 {
			continue // "" or a trailing slash
		}
		if seg == "" || seg == "." || seg == ".." || !segmentRe.MatchString(seg) {
			return fmt.Errorf("is not a URL path of letters, digits, '.', '_', '~', '-' (segment %q)", seg)
		}
	}
	return nil
}

func oneOf(errs *[]error, key, v string, allowed ...string) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	*errs = append(*errs, fmt.Errorf("config: %s: %q is not one of %s", key, v, strings.Join(allowed, ", ")))
}

// Validate checks every key and returns all problems at once, each naming
// its key ("config: streams.alerts.format: …"), joined with errors.Join.
// It also normalizes: a URL as storage.driver moves to storage.URL (its
// scheme names the driver), and Warnings is recomputed. Call it again after
// changing a parsed Config (e.g. from command-line flags).
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf("config: "+format, args...)) }
	oneOf(&errs, "server.compression", c.Server.Compression.Mode(), compressionModes...)
	if c.Server.Addr == "" {
		add("server.addr: must not be empty")
	}
	if c.Server.MaxBodyBytes < 0 {
		add("server.max_body_bytes: must not be negative")
	}
	for i, o := range c.Server.CORSOrigins {
		if o != "*" && !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
			add("server.cors_origins[%d]: %q is not \"*\" or an http(s) origin", i, o)
		}
	}
	l := c.Limits
	if l.MaxTopicLen > ssehub.MaxTopicLen {
		add("limits.max_topic_len: at most %d", ssehub.MaxTopicLen)
	}
	for k, v := range map[string]float64{"max_topic_len": float64(l.MaxTopicLen), "publish_rate": l.PublishRate,
		"publish_burst": float64(l.PublishBurst), "streams_per_token": float64(l.StreamsPerToken),
		"streams_per_addr": float64(l.StreamsPerAddr), "max_connections": float64(l.MaxConnections), "max_topics": float64(l.MaxTopics),
		"max_streams": float64(l.MaxStreams), "max_key_len": float64(l.MaxKeyLen), "max_field_len": float64(l.MaxFieldLen),
		"max_meta_bytes": float64(l.MaxMetaBytes), "max_batch_events": float64(l.MaxBatchEvents),
		"max_page_events": float64(l.MaxPageEvents), "max_page_bytes": float64(l.MaxPageBytes), "max_ingest_bytes": float64(l.MaxIngestBytes)} {
		if v < 0 {
			add("limits.%s: must not be negative", k)
		}
	}
	for k, v := range map[string]int64{"read_header_timeout": int64(c.Server.ReadHeaderTimeout), "read_body_timeout": int64(c.Server.ReadBodyTimeout), "idle_timeout": int64(c.Server.IdleTimeout),
		"write_timeout": int64(c.Server.WriteTimeout), "stream_workers": int64(c.Server.StreamWorkers), "max_client_bytes": int64(c.Server.MaxClientBytes)} {
		if v < 0 {
			add("server.%s: must not be negative", k)
		}
	}
	if c.Auth.ExpiredRetention != nil && *c.Auth.ExpiredRetention < 0 {
		add("auth.expired_token_retention: must not be negative")
	}
	if c.Server.TLS.SelfSigned && c.Server.TLS.Cert != "" {
		add("server.tls: self_signed and cert exclude each other")
	}
	if (c.Server.TLS.Cert == "") != (c.Server.TLS.Key == "") {
		add("server.tls: cert and key go together")
	}
	errs = append(errs, c.Storage.validate()...)
	errs = append(errs, c.DurableStreams.validate()...)
	r := c.Storage.Retention
	for k, v := range map[string]int64{"max_events": r.MaxEvents, "max_bytes": r.MaxBytes, "max_age": int64(r.MaxAge)} {
		if v < 0 {
			add("storage.retention.%s: must not be negative", k)
		}
	}
	if c.Storage.DedupeWindow < 0 {
		add("storage.dedupe_window: must not be negative")
	}
	oneOf(&errs, "log.level", c.Log.Level, "debug", "info", "warn", "error")
	oneOf(&errs, "log.format", c.Log.Format, "text", "json")
	c.Warnings = nil
	if err := c.nameTypes(); err != nil {
		errs = append(errs, err)
	}
	for name, sk := range c.Sink {
		if _, dup := c.Streams[name]; dup {
			add("sink.%s: the name is also used by streams.%s", name, name)
		}
		if sk.Type != SinkSSE && sk.Type != SinkHTTPPull {
			c.Warnings = append(c.Warnings, fmt.Sprintf("config: sink.%s: type %q is not served by ssehub; ignored", name, sk.Type))
			continue
		}
		for k := range sk.Rest {
			add("sink.%s.%s: unknown key", name, k)
		}
		errs = append(errs, c.validateSinkKeys(name, sk)...)
	}
	errs = append(errs, c.validatePull()...)
	errs = append(errs, c.Mercure.validate(c)...)
	endpoints := map[string]string{}
	for _, st := range c.AllStreams() {
		key := "streams." + st.Name
		if _, ok := c.Sink[st.Name]; ok {
			key = "sink." + st.Name
		}
		if !nameRe.MatchString(st.Name) {
			add("%s: the name must be letters, digits, '_' or '-'", key)
		} else if reserved[st.Name] {
			add("%s: %q is reserved for the hub's own endpoints", key, st.Name)
		}
		for i, m := range st.Match {
			if _, err := ssehub.ParsePattern(m); err != nil {
				add("%s.match[%d]: %v", key, i, err)
			}
		}
		for i, o := range st.CORSOrigins {
			if o != "*" && !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
				add("%s.cors_origins[%d]: %q is not \"*\" or an http(s) origin", key, i, o)
			}
		}
		if st.Format != InboxclawFormat || !strings.HasPrefix(key, "sink.") {
			oneOf(&errs, key+".format", st.Format, format.Names()...) // a sink's is set here, and registered by its feature
		}
		oneOf(&errs, key+".init", st.Init, "", "last")
		if st.Init != "" && st.Format == "arrow" {
			add("%s.init: an arrow stream has no init event (its schema event is its state)", key)
		}
		if st.InitMaxTopics < 0 {
			add("%s.init_max_topics: must not be negative", key)
		}
		if err := checkComment(st.KeepaliveComment); err != nil {
			add("%s.keepalive_comment: %v", key, err)
		}
		oneOf(&errs, key+".heartbeat_style", st.HeartbeatStyle, "event", "empty", "comment")
		oneOf(&errs, key+".hello", st.Hello, "info", "comment", "none")
		if st.Heartbeat < 0 {
			hk := key + ".heartbeat"
			if strings.HasPrefix(key, "sink.") {
				hk = key + ".heartbeat_timeout"
			}
			add("%s: must not be negative", hk)
		}
		if st.Retry < 0 {
			add("%s.retry: must not be negative", key)
		}
		if err := checkPath(st.Path); err != nil {
			add("%s.path: %q %v", key, st.Path, err)
		}
		if other, ok := endpoints[st.Endpoint()]; ok {
			add("%s: endpoint %s is also used by %s", key, st.Endpoint(), other)
		}
		endpoints[st.Endpoint()] = key
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errors.Join(errs...)
}
