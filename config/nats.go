package config

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/ssehub/ssehub"
)

// NATS configures the NATS JetStream store (storage.driver: nats): a
// stream with subjects "<SubjectPrefix>.>" on the servers at URL.
type NATS struct {
	// URL is one server URL or a comma-separated list
	// ("nats://a:4222,nats://b:4222"); schemes nats, tls, ws, wss.
	URL string `yaml:"url"`
	// Stream is the JetStream stream name (default SSEHUB).
	Stream string `yaml:"stream"`
	// SubjectPrefix is the subject prefix of every event (default ssehub).
	SubjectPrefix string `yaml:"subject_prefix"`
	// Replicas is the stream's replica count, 1 to 5 (default 1).
	Replicas int `yaml:"replicas"`
}

// natsSchemes are the URL schemes the NATS client dials.
var natsSchemes = map[string]bool{"nats": true, "tls": true, "ws": true, "wss": true}

// isNATSURL reports whether a storage.driver value is a NATS server URL.
func isNATSURL(s string) bool {
	scheme, _, ok := strings.Cut(s, "://")
	return ok && natsSchemes[scheme]
}

// validate checks the section; the URL is required only when the NATS
// store is selected.
func (n NATS) validate(selected bool) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf("config: "+format, args...)) }
	if selected && n.URL == "" {
		add("storage.nats.url: required with driver nats")
	}
	if n.URL != "" {
		for _, s := range strings.Split(n.URL, ",") {
			u, err := url.Parse(strings.TrimSpace(s))
			if err != nil || !natsSchemes[u.Scheme] || u.Host == "" {
				add("storage.nats.url: %q is not a nats://, tls://, ws:// or wss:// server URL", s)
			}
		}
	}
	if n.Stream == "" || strings.ContainsAny(n.Stream, " \t\r\n.*>/\\") {
		add("storage.nats.stream: %q is not a JetStream stream name (no spaces, '.', '*', '>', '/', '\\')", n.Stream)
	}
	if err := ssehub.ValidateTopic(n.SubjectPrefix); err != nil {
		add("storage.nats.subject_prefix: %v", err)
	}
	if n.Replicas < 1 || n.Replicas > 5 {
		add("storage.nats.replicas: %d is not between 1 and 5", n.Replicas)
	}
	return errs
}
