package config

import "gopkg.in/yaml.v3"

// Sink is an Inboxclaw sink entry. Only type "sse" becomes a stream; the
// other types (http_pull, webhook, …) are kept in Rest, unchecked, and
// reported in Config.Warnings, so an Inboxclaw config loads unchanged.
type Sink struct {
	Type             string     `yaml:"type"`
	Match            StringList `yaml:"match,omitempty"`
	Path             string     `yaml:"path,omitempty"`
	HeartbeatTimeout *Duration  `yaml:"heartbeat_timeout,omitempty"`
	// Public is ssehub's addition; absent means true (Inboxclaw's SSE
	// sink has no tokens).
	Public *bool `yaml:"public,omitempty"`
	// Rest holds the keys ssehub does not know: every key but type of a
	// sink of another type, or the mistakes in an sse sink (which
	// Validate reports).
	Rest map[string]any `yaml:",inline"`
}

// sinkFields is Sink without its UnmarshalYAML method.
type sinkFields Sink

// UnmarshalYAML implements yaml.Unmarshaler. A sink of a type other than
// sse is not interpreted at all: its keys, whatever their values, go to
// Rest, because they belong to Inboxclaw's other sink kinds.
func (s *Sink) UnmarshalYAML(n *yaml.Node) error {
	var typ string
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "type" && n.Content[i+1].Kind == yaml.ScalarNode {
				typ = n.Content[i+1].Value
			}
		}
	}
	if typ == "sse" {
		var f sinkFields
		if err := n.Decode(&f); err != nil {
			return err
		}
		*s = Sink(f)
		return nil
	}
	var rest map[string]any
	if err := n.Decode(&rest); err != nil {
		return err
	}
	delete(rest, "type")
	*s = Sink{Type: typ, Rest: rest}
	return nil
}
