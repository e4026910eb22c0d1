package config

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// Inboxclaw sink types ssehub serves.
const (
	// SinkSSE is Inboxclaw's SSE sink: a stream (see Config.AllStreams).
	SinkSSE = "sse"
	// SinkHTTPPull is Inboxclaw's HTTP pull sink: delivery with
	// confirmation (see Config.PullEndpoints).
	SinkHTTPPull = "http_pull"
)

// Sink is an Inboxclaw sink entry. Types sse and http_pull are served; the
// other types (webhook, command, …) are kept in Rest, unchecked, and
// reported in Config.Warnings, so an Inboxclaw config loads unchanged. As
// in Inboxclaw, a sink whose name is its type may leave type out
// (sink: {http_pull: {}}).
type Sink struct {
	Type  string     `yaml:"type"`
	Match StringList `yaml:"match,omitempty"`
	// Path is an sse sink's URL suffix (after /{name}/).
	Path string `yaml:"path,omitempty"`
	// PullPath is an http_pull sink's two URL suffixes (Inboxclaw's path:
	// {extract: …, mark_processed: …}); nil means the defaults.
	PullPath         *PullPaths `yaml:"-"`
	HeartbeatTimeout *Duration  `yaml:"heartbeat_timeout,omitempty"`
	// Public is ssehub's addition; absent means true (Inboxclaw's sinks
	// have no tokens).
	Public *bool `yaml:"public,omitempty"`

	// ssehub's additions for http_pull sinks (see Pull).
	Lease        *Duration `yaml:"lease,omitempty"`
	BatchSize    int       `yaml:"batch_size,omitempty"`
	MaxBatchSize int       `yaml:"max_batch_size,omitempty"`
	// Inboxclaw's http_pull keys ssehub accepts but does not apply (a
	// warning says so): TTL filtering (ssehub's storage.retention.max_age
	// bounds age instead) and per-sink coalescing (which Inboxclaw itself
	// moved to its sources).
	TTLEnabled *bool               `yaml:"ttl_enabled,omitempty"`
	DefaultTTL *Duration           `yaml:"default_ttl,omitempty"`
	EventTTL   map[string]Duration `yaml:"event_ttl,omitempty"`
	Coalesce   StringList          `yaml:"coalesce,omitempty"`

	// Rest holds the keys ssehub does not know: every key but type of a
	// sink of another type, or the mistakes in a served sink (which
	// Validate reports).
	Rest map[string]any `yaml:",inline"`

	// named records that type came from the sink's name.
	named bool
}

// PullPaths are the URL suffixes of a pull endpoint's two operations,
// after /{name}/.
type PullPaths struct {
	Extract       string `yaml:"extract,omitempty"`
	MarkProcessed string `yaml:"mark_processed,omitempty"`
}

// sinkFields is Sink without its methods; Path is decoded by hand, as it is
// a string for sse sinks and a mapping for http_pull sinks.
type sinkFields struct {
	Type             string              `yaml:"type"`
	Match            StringList          `yaml:"match,omitempty"`
	Path             yaml.Node           `yaml:"path,omitempty"`
	HeartbeatTimeout *Duration           `yaml:"heartbeat_timeout,omitempty"`
	Public           *bool               `yaml:"public,omitempty"`
	Lease            *Duration           `yaml:"lease,omitempty"`
	BatchSize        int                 `yaml:"batch_size,omitempty"`
	MaxBatchSize     int                 `yaml:"max_batch_size,omitempty"`
	TTLEnabled       *bool               `yaml:"ttl_enabled,omitempty"`
	DefaultTTL       *Duration           `yaml:"default_ttl,omitempty"`
	EventTTL         map[string]Duration `yaml:"event_ttl,omitempty"`
	Coalesce         StringList          `yaml:"coalesce,omitempty"`
	Rest             map[string]any      `yaml:",inline"`
}

// UnmarshalYAML implements yaml.Unmarshaler. A sink of a type other than
// sse and http_pull is not interpreted at all: its keys, whatever their
// values, go to Rest, because they belong to Inboxclaw's other sink kinds.
func (s *Sink) UnmarshalYAML(n *yaml.Node) error {
	var typ string
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "type" && n.Content[i+1].Kind == yaml.ScalarNode {
				typ = n.Content[i+1].Value
			}
		}
	}
	if typ != SinkSSE && typ != SinkHTTPPull {
		var rest map[string]any
		if err := n.Decode(&rest); err != nil {
			return err
		}
		delete(rest, "type")
		*s = Sink{Type: typ, Rest: rest}
		return nil
	}
	var f sinkFields
	if err := n.Decode(&f); err != nil {
		return err
	}
	*s = Sink{Type: f.Type, Match: f.Match, HeartbeatTimeout: f.HeartbeatTimeout, Public: f.Public, Lease: f.Lease,
		BatchSize: f.BatchSize, MaxBatchSize: f.MaxBatchSize, TTLEnabled: f.TTLEnabled, DefaultTTL: f.DefaultTTL,
		EventTTL: f.EventTTL, Coalesce: f.Coalesce, Rest: f.Rest}
	return s.decodePath(&f.Path)
}

// decodePath reads path: a string for sse, a mapping for http_pull.
func (s *Sink) decodePath(p *yaml.Node) error {
	if p.Kind == 0 {
		return nil
	}
	switch {
	case s.Type == SinkHTTPPull && p.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(p.Content); i += 2 {
			if k := p.Content[i].Value; k != "extract" && k != "mark_processed" {
				return typeError("line %d: path.%s: unknown key (want extract, mark_processed)", p.Content[i].Line, k)
			}
		}
		var pp PullPaths
		if err := p.Decode(&pp); err != nil {
			return err
		}
		s.PullPath = &pp
		return nil
	case s.Type == SinkSSE && p.Kind == yaml.ScalarNode:
		s.Path = p.Value
		return nil
	case s.Type == SinkHTTPPull:
		return typeError("line %d: path of an http_pull sink is a mapping {extract: …, mark_processed: …}", p.Line)
	}
	return typeError("line %d: path of an sse sink is a string", p.Line)
}

// MarshalYAML implements yaml.Marshaler, so that a parsed Config written
// with yaml.Marshal parses back to the same Config.
func (s Sink) MarshalYAML() (any, error) {
	out := map[string]any{}
	for k, v := range s.Rest {
		out[k] = v
	}
	if s.Type != "" && !s.named {
		out["type"] = s.Type
	}
	set := func(k string, v any, ok bool) {
		if ok {
			out[k] = v
		}
	}
	set("match", s.Match, len(s.Match) > 0)
	set("path", s.Path, s.Path != "")
	set("path", s.PullPath, s.PullPath != nil)
	set("heartbeat_timeout", s.HeartbeatTimeout, s.HeartbeatTimeout != nil)
	set("public", s.Public, s.Public != nil)
	set("lease", s.Lease, s.Lease != nil)
	set("batch_size", s.BatchSize, s.BatchSize != 0)
	set("max_batch_size", s.MaxBatchSize, s.MaxBatchSize != 0)
	set("ttl_enabled", s.TTLEnabled, s.TTLEnabled != nil)
	set("default_ttl", s.DefaultTTL, s.DefaultTTL != nil)
	set("event_ttl", s.EventTTL, s.EventTTL != nil)
	set("coalesce", s.Coalesce, len(s.Coalesce) > 0)
	return out, nil
}

// nameTypes applies Inboxclaw's rule that a sink named after its type may
// leave type out: an untyped sink named sse or http_pull is re-read as one.
func (c *Config) nameTypes() error {
	for name, sk := range c.Sink {
		if sk.Type != "" || (name != SinkSSE && name != SinkHTTPPull) {
			continue
		}
		n := yaml.Node{Kind: yaml.MappingNode}
		if len(sk.Rest) > 0 {
			if err := n.Encode(sk.Rest); err != nil {
				return err
			}
		}
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "type"}, &yaml.Node{Kind: yaml.ScalarNode, Value: name})
		var typed Sink
		if err := n.Decode(&typed); err != nil {
			return fmt.Errorf("config: sink.%s: %w", name, err)
		}
		typed.named = true
		c.Sink[name] = typed
	}
	return nil
}
