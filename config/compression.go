package config

import (
	"strings"

	"gopkg.in/yaml.v3"
)

// Compression is server.compression: whether event streams are compressed
// for clients that accept it (Accept-Encoding), and with what. "off" (the
// default) never compresses; "gzip" and "zstd" use that encoding where the
// client accepts it; "auto" uses zstd where the client accepts it, else
// gzip. See docs/compression.md.
type Compression string

// The values server.compression takes.
var compressionModes = []string{"off", "gzip", "zstd", "auto"}

// UnmarshalYAML implements yaml.Unmarshaler: one of compressionModes, in
// any case; YAML's false is off.
func (c *Compression) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return typeError("line %d: server.compression is one of %s", n.Line, strings.Join(compressionModes, ", "))
	}
	v := strings.ToLower(n.Value)
	if v == "false" || v == "no" {
		v = "off"
	}
	for _, m := range compressionModes {
		if v == m {
			*c = Compression(v)
			return nil
		}
	}
	return typeError("line %d: server.compression: %q is not one of %s", n.Line, n.Value, strings.Join(compressionModes, ", "))
}

// Mode returns c, with "" (not set) as "off".
func (c Compression) Mode() string {
	if c == "" {
		return "off"
	}
	return string(c)
}
