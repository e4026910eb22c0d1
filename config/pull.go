package config

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ssehub/ssehub"
)

// Stream modes.
const (
	// ModeStream is an SSE endpoint.
	ModeStream = "stream"
	// ModePull is delivery with confirmation (Inboxclaw's http_pull).
	ModePull = "pull"
)

// InboxclawFormat is the output format of Inboxclaw SSE sinks: the
// envelope with Inboxclaw's bytes (Python's separators, created_at like
// "2024-03-15T10:00:00+00:00", source an object). It is registered by
// package httpapi/pull.
const InboxclawFormat = "inboxclaw"

// Defaults of the keys this file adds.
const (
	// DefaultInitMaxTopics bounds the init events of an init: last stream.
	DefaultInitMaxTopics = 1000
	// DefaultKeepaliveComment is the text of a comment heartbeat: the hub
	// and the emitter both send ":keepalive" and a blank line, as Hantera.
	DefaultKeepaliveComment = "keepalive"
	// DefaultLease is how long a pulled batch stays out before its events
	// may be extracted again.
	DefaultLease = 30 * time.Second
	// DefaultBatchSize and DefaultMaxBatchSize are a pull endpoint's
	// batch_size without ?batch_size= and its largest allowed value.
	DefaultBatchSize    = 100
	DefaultMaxBatchSize = 1000
)

// Pull is a resolved pull endpoint: an http_pull sink or a mode: pull
// stream.
type Pull struct {
	// Name is the sink's or stream's name; Key its configuration key
	// ("sink.NAME" or "streams.NAME"), for messages.
	Name, Key string
	// Match bounds the events the endpoint delivers; ?event_type= narrows.
	Match StringList
	// ExtractPath and ConfirmPath are the two URL paths, e.g.
	// "/accounting/extract" and "/accounting/mark-processed".
	ExtractPath, ConfirmPath string
	// Lease is how long an unconfirmed batch keeps its events.
	Lease time.Duration
	// BatchSize is the default ?batch_size=; MaxBatchSize its bound.
	BatchSize, MaxBatchSize int
	// Public endpoints need no token (an Inboxclaw sink's default).
	Public bool
	// Format is the envelope style: "inboxclaw" (a sink) or "envelope".
	Format string
	// Sink reports an Inboxclaw sink (dedupe on source and event_id).
	Sink bool
}

// PullEndpoints returns the http_pull sinks and mode: pull streams,
// resolved, sorted by name.
func (c *Config) PullEndpoints() []Pull {
	var out []Pull
	for name, sk := range c.Sink {
		if sk.Type != SinkHTTPPull {
			continue
		}
		p := Pull{Name: name, Key: "sink." + name, Match: sk.Match, Lease: DefaultLease, BatchSize: sk.BatchSize,
			MaxBatchSize: sk.MaxBatchSize, Public: sk.Public == nil || *sk.Public, Format: InboxclawFormat, Sink: true}
		ex, mp := "extract", "mark-processed"
		if sk.PullPath != nil {
			ex = orDefault(sk.PullPath.Extract, ex)
			mp = orDefault(sk.PullPath.MarkProcessed, mp)
		}
		p.ExtractPath, p.ConfirmPath = "/"+name+"/"+strings.TrimPrefix(ex, "/"), "/"+name+"/"+strings.TrimPrefix(mp, "/")
		if sk.Lease != nil {
			p.Lease = time.Duration(*sk.Lease)
		}
		out = append(out, resolvePull(p))
	}
	for name, st := range c.Streams {
		if st.Mode != ModePull {
			continue
		}
		p := Pull{Name: name, Key: "streams." + name, Match: st.Match, Lease: DefaultLease, BatchSize: st.BatchSize,
			MaxBatchSize: st.MaxBatchSize, Public: st.PublicOpt != nil && *st.PublicOpt, Format: orDefault(st.Format, "envelope"),
			ExtractPath: "/" + name + "/extract", ConfirmPath: "/" + name + "/mark-processed"}
		if st.Lease != nil {
			p.Lease = time.Duration(*st.Lease)
		}
		out = append(out, resolvePull(p))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func resolvePull(p Pull) Pull {
	if len(p.Match) == 0 {
		p.Match = StringList{"*"}
	}
	if p.MaxBatchSize == 0 {
		p.MaxBatchSize = max(DefaultMaxBatchSize, p.BatchSize)
	}
	if p.BatchSize == 0 {
		p.BatchSize = min(DefaultBatchSize, p.MaxBatchSize)
	}
	return p
}

// InboxclawMatch returns the match patterns of every Inboxclaw sink (sse
// and http_pull): publishes to the topics they cover are deduplicated on
// (source, event_id), as Inboxclaw does.
func (c *Config) InboxclawMatch() []string {
	var out []string
	for _, sk := range c.Sink {
		if sk.Type != SinkSSE && sk.Type != SinkHTTPPull {
			continue
		}
		if len(sk.Match) == 0 {
			return []string{"*"}
		}
		out = append(out, sk.Match...)
	}
	sort.Strings(out)
	return out
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// validateSinkKeys checks that a served sink uses its own type's keys,
// and warns about the Inboxclaw keys that load but do nothing here.
func (c *Config) validateSinkKeys(name string, sk Sink) []error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("config: sink.%s."+format, append([]any{name}, args...)...))
	}
	if sk.Type == SinkSSE {
		for k, set := range map[string]bool{"lease": sk.Lease != nil, "batch_size": sk.BatchSize != 0, "max_batch_size": sk.MaxBatchSize != 0,
			"ttl_enabled": sk.TTLEnabled != nil, "default_ttl": sk.DefaultTTL != nil, "event_ttl": sk.EventTTL != nil, "coalesce": len(sk.Coalesce) > 0} {
			if set {
				add("%s: not a key of an sse sink (it belongs to http_pull)", k)
			}
		}
		return errs
	}
	if sk.HeartbeatTimeout != nil {
		add("heartbeat_timeout: not a key of an http_pull sink (it belongs to sse)")
	}
	if sk.PullPath != nil {
		if err := checkPath(sk.PullPath.Extract); err != nil || sk.PullPath.Extract == "/" {
			add("path.extract: %q is not a URL path of letters, digits, '.', '_', '~', '-'", sk.PullPath.Extract)
		}
		if err := checkPath(sk.PullPath.MarkProcessed); err != nil || sk.PullPath.MarkProcessed == "/" {
			add("path.mark_processed: %q is not a URL path of letters, digits, '.', '_', '~', '-'", sk.PullPath.MarkProcessed)
		}
	}
	if sk.TTLEnabled != nil || sk.DefaultTTL != nil || sk.EventTTL != nil {
		c.Warnings = append(c.Warnings, fmt.Sprintf("config: sink.%s: ttl_enabled, default_ttl and event_ttl are not applied by ssehub; storage.retention.max_age bounds how old a delivered event can be", name))
	}
	if len(sk.Coalesce) > 0 {
		c.Warnings = append(c.Warnings, fmt.Sprintf("config: sink.%s: coalesce is not applied by ssehub", name))
	}
	return errs
}

// validatePull checks the resolved pull endpoints and the streams' mode.
func (c *Config) validatePull() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf("config: "+format, args...)) }
	for name, st := range c.Streams {
		oneOf(&errs, "streams."+name+".mode", orDefault(st.Mode, ModeStream), ModeStream, ModePull)
		if st.Mode != ModePull && (st.Lease != nil || st.BatchSize != 0 || st.MaxBatchSize != 0) {
			add("streams.%s: lease, batch_size and max_batch_size need mode: pull", name)
		}
		if st.Mode == ModePull {
			if !nameRe.MatchString(name) {
				add("streams.%s: the name must be letters, digits, '_' or '-'", name)
			} else if reserved[name] {
				add("streams.%s: %q is reserved for the hub's own endpoints", name, name)
			}
			if st.Init != "" || st.Path != "" {
				add("streams.%s: init and path are SSE stream keys; a mode: pull stream has neither", name)
			}
			if st.Format != "" && st.Format != "envelope" && st.Format != InboxclawFormat {
				add("streams.%s.format: a pull stream's format is envelope or %s", name, InboxclawFormat)
			}
		}
	}
	for _, p := range c.PullEndpoints() {
		if p.Sink {
			if !nameRe.MatchString(p.Name) {
				add("%s: the name must be letters, digits, '_' or '-'", p.Key)
			} else if reserved[p.Name] {
				add("%s: %q is reserved for the hub's own endpoints", p.Key, p.Name)
			}
		}
		for i, m := range p.Match {
			if err := checkPattern(m); err != nil {
				add("%s.match[%d]: %v", p.Key, i, err)
			}
		}
		if p.Lease <= 0 {
			add("%s.lease: must be positive", p.Key)
		}
		if p.BatchSize < 0 || p.MaxBatchSize < 0 {
			add("%s: batch_size and max_batch_size must not be negative", p.Key)
		} else if p.BatchSize > p.MaxBatchSize {
			add("%s.batch_size: %d is over max_batch_size %d", p.Key, p.BatchSize, p.MaxBatchSize)
		}
		if p.ExtractPath == p.ConfirmPath {
			add("%s.path: extract and mark_processed are the same path %s", p.Key, p.ExtractPath)
		}
	}
	return errs
}

// checkComment reports whether s can be sent as one comment line.
func checkComment(s string) error {
	if strings.ContainsAny(s, "\r\n") {
		return errors.New("must be one line")
	}
	return nil
}

func checkPattern(m string) error {
	_, err := ssehub.ParsePattern(m)
	return err
}
