package config

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"
)

var errEOF = io.EOF

// typeError is a decoding problem that lets the decoder go on, so that
// every bad value in the file is reported at once.
func typeError(format string, args ...any) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf(format, args...)}}
}

// Duration is a time.Duration written as a Go duration ("30s", "168h") or,
// as Inboxclaw allows, a plain number of seconds (15, 30.0).
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return typeError("line %d: want a duration like \"30s\" or a number of seconds", n.Line)
	}
	if secs, err := strconv.ParseFloat(n.Value, 64); err == nil {
		*d = Duration(secs * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return typeError("line %d: %q is not a duration like \"30s\" or a number of seconds", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// StringList is a YAML string or list of strings.
type StringList []string

// UnmarshalYAML implements yaml.Unmarshaler.
func (s *StringList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*s = StringList{n.Value}
		return nil
	case yaml.SequenceNode:
		var out []string
		if err := n.Decode(&out); err != nil {
			return err
		}
		*s = out
		return nil
	}
	return typeError("line %d: want a string or a list of strings", n.Line)
}

// MarshalYAML implements yaml.Marshaler: a Go duration string ("30s").
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }
