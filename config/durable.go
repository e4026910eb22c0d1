package config

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ssehub/ssehub"
)

// Durable Streams defaults (see docs/durable-streams.md).
const (
	DefaultDurableLongPoll    = 20 * time.Second
	DefaultDurableSSEDuration = 60 * time.Second
	DefaultDurableReadBytes   = 1 << 20
	DefaultDurableProducers   = 10_000
	DefaultDurableCached      = 100_000
	DefaultDurableNativePath  = "_topics"
)

// DurableStreams configures the Durable Streams protocol endpoints at
// /v1/stream/{name} (package httpapi/durable).
type DurableStreams struct {
	// Enabled serves the endpoints; absent means true. They need tokens
	// unless PublicRead or PublicWrite says otherwise.
	Enabled *bool `yaml:"enabled"`
	// PublicRead lets requests without a token read (GET, HEAD) every
	// stream. Off by default.
	PublicRead bool `yaml:"public_read"`
	// PublicWrite lets requests without a token create, append to, close,
	// fork and delete every stream. Off by default: it is for test
	// servers (the protocol's conformance suite sends no token) and
	// trusted networks.
	PublicWrite bool `yaml:"public_write"`
	// LongPollTimeout is how long a live=long-poll read waits for data
	// before answering 204 (default 20 s); SSE streams send a keep-alive
	// control event at the same interval.
	LongPollTimeout Duration `yaml:"long_poll_timeout"`
	// SSEMaxDuration ends a live=sse response after this long, so
	// clients reconnect through caches (default 60 s, as the protocol
	// recommends).
	SSEMaxDuration Duration `yaml:"sse_max_duration"`
	// MaxReadBytes bounds the body of one catch-up read (default 1 MiB);
	// the client reads on from Stream-Next-Offset.
	MaxReadBytes int64 `yaml:"max_read_bytes"`
	// MaxProducers bounds the idempotent producers one stream remembers
	// (default 10,000; a new producer past it gets 429).
	MaxProducers int `yaml:"max_producers"`
	// Refresh bounds how stale a node's view of a stream may get for
	// appends made through other hub nodes (several nodes on one NATS
	// log) or POST /publish: reads older than this read the stream's topic
	// again, live reads look at this interval. 0 (the default) suits one
	// node: writes always read the topic first.
	Refresh Duration `yaml:"refresh"`
	// MaxCachedStreams bounds the streams whose state a node keeps in
	// memory (default 100,000); the least recently used idle ones are
	// dropped past it and loaded again from the log when next used.
	MaxCachedStreams int `yaml:"max_cached_streams"`
	// NativeTopics are topic patterns ("orders.*") whose topics, published
	// the native way (POST /publish), read as read-only JSON streams at
	// /v1/stream/<NativePath>/<topic>. Empty (the default): none. No
	// pattern may reach a protocol's topics: "*" and patterns under ds,
	// mercure or mercure_private are refused (a Durable Stream's topic
	// holds its markers and producer state and is read as that stream;
	// Mercure's private updates go only to subscribers Mercure authorizes).
	NativeTopics StringList `yaml:"native_topics,omitempty"`
	// NativePath is the stream-name prefix of those views (default
	// "_topics"). It is reserved even when NativeTopics is empty: no
	// stream can be created, written or deleted under it.
	NativePath string `yaml:"native_path"`
	// NativePublicRead lets requests without a token read the views;
	// PublicRead does not open them (/events guards native topics with
	// tokens). Off by default.
	NativePublicRead bool `yaml:"native_public_read"`
}

// On reports whether the endpoints are served.
func (d DurableStreams) On() bool { return d.Enabled == nil || *d.Enabled }

// Resolved returns d with the defaults applied.
func (d DurableStreams) Resolved() DurableStreams {
	if d.LongPollTimeout == 0 {
		d.LongPollTimeout = Duration(DefaultDurableLongPoll)
	}
	if d.SSEMaxDuration == 0 {
		d.SSEMaxDuration = Duration(DefaultDurableSSEDuration)
	}
	if d.MaxReadBytes == 0 {
		d.MaxReadBytes = DefaultDurableReadBytes
	}
	if d.MaxProducers == 0 {
		d.MaxProducers = DefaultDurableProducers
	}
	if d.MaxCachedStreams == 0 {
		d.MaxCachedStreams = DefaultDurableCached
	}
	if d.NativePath == "" {
		d.NativePath = DefaultDurableNativePath
	}
	return d
}

func (d DurableStreams) validate() []error {
	var errs []error
	for k, v := range map[string]int64{"long_poll_timeout": int64(d.LongPollTimeout), "sse_max_duration": int64(d.SSEMaxDuration),
		"max_read_bytes": d.MaxReadBytes, "max_producers": int64(d.MaxProducers), "refresh": int64(d.Refresh),
		"max_cached_streams": int64(d.MaxCachedStreams)} {
		if v < 0 {
			errs = append(errs, fmt.Errorf("config: durable_streams.%s: must not be negative", k))
		}
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	for i, p := range d.NativeTopics {
		if err := checkNativeTopic(p); err != nil {
			errs = append(errs, fmt.Errorf("config: durable_streams.native_topics[%d]: %w", i, err))
		}
	}
	if d.NativePath != "" {
		if err := checkNativePath(d.NativePath); err != nil {
			errs = append(errs, fmt.Errorf("config: durable_streams.native_path: %w", err))
		}
	}
	return errs
}

// nativeReserved are the first tokens of the topics a protocol owns
// (Durable Streams' ds, Mercure's mercure and mercure_private): no view
// of native topics may reach them (httpapi/durable checks the same).
var nativeReserved = []string{"ds", "mercure", "mercure_private"}

// checkNativeTopic checks one durable_streams.native_topics pattern.
func checkNativeTopic(p string) error {
	if _, err := ssehub.ParsePattern(p); err != nil {
		return err
	}
	if p == "*" {
		return fmt.Errorf(`"*" would expose ds.*, mercure.* and mercure_private.*: list the prefixes to expose ("orders.*")`)
	}
	first, _, _ := strings.Cut(p, ".")
	for _, r := range nativeReserved {
		if first == r {
			return fmt.Errorf("%q is under %s, a protocol's reserved prefix: its topics are read through that protocol and its rules", p, r)
		}
	}
	return nil
}

// checkNativePath checks durable_streams.native_path: '/'-separated
// segments of letters, digits, '_', '-' and '.', none empty, "." or "..",
// at most 128 bytes.
func checkNativePath(p string) error {
	if len(p) > 128 {
		return fmt.Errorf("longer than 128 bytes")
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf(`%q: empty, "." and ".." segments are not allowed (no leading or trailing '/')`, p)
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
				return fmt.Errorf("%q: %q is not allowed (letters, digits, '_', '-', '.' and '/')", p, rune(c))
			}
		}
	}
	return nil
}
