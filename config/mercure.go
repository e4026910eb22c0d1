package config

import (
	"fmt"
	"os"
	"strings"
)

// Mercure configures the Mercure hub at /.well-known/mercure (package
// httpapi/mercure, docs/mercure.md). It is served when a JWT key is set
// (here or in the reference hub's environment variables) or when enabled
// is true (then only ssehub tokens authenticate).
type Mercure struct {
	// Enabled serves the endpoint; absent, it is served when a key is set.
	Enabled *bool `yaml:"enabled"`
	// PublisherJWT and SubscriberJWT verify each role's tokens. Unset, they
	// come from MERCURE_PUBLISHER_JWT_KEY / MERCURE_PUBLISHER_JWT_ALG and
	// MERCURE_SUBSCRIBER_JWT_KEY / MERCURE_SUBSCRIBER_JWT_ALG, as for the
	// reference hub.
	PublisherJWT  MercureKey `yaml:"publisher_jwt"`
	SubscriberJWT MercureKey `yaml:"subscriber_jwt"`
	// Issuer lists the trusted iss of access tokens (one string or a list).
	Issuer StringList `yaml:"issuer,omitempty"`
	// ResourceIdentifier is the hub's resource identifier, required in the
	// aud of access tokens.
	ResourceIdentifier string `yaml:"resource_identifier"`
	// Anonymous lets subscribers without a token receive public updates.
	Anonymous bool `yaml:"anonymous"`
	// Subscriptions publishes subscription events and serves the
	// subscriptions API.
	Subscriptions bool `yaml:"subscriptions"`
	// HubURL is the hub's public URL (relative URL patterns resolve
	// against it); default the request's scheme and host.
	HubURL string `yaml:"hub_url"`
	// Heartbeat is the interval of keep-alive comments; default 15 s.
	Heartbeat Duration `yaml:"heartbeat"`
}

// MercureKey is a JWT verification key and its algorithm (HS256, RS256).
type MercureKey struct {
	Key string `yaml:"key"`
	Alg string `yaml:"alg"`
}

// Keys returns the publisher and subscriber keys, the environment
// variables filling what the file leaves unset.
func (m Mercure) Keys() (pub, sub MercureKey) {
	pub, sub = m.PublisherJWT, m.SubscriberJWT
	if pub.Key == "" {
		pub = MercureKey{Key: os.Getenv("MERCURE_PUBLISHER_JWT_KEY"), Alg: os.Getenv("MERCURE_PUBLISHER_JWT_ALG")}
	}
	if sub.Key == "" {
		sub = MercureKey{Key: os.Getenv("MERCURE_SUBSCRIBER_JWT_KEY"), Alg: os.Getenv("MERCURE_SUBSCRIBER_JWT_ALG")}
	}
	return pub, sub
}

// On reports whether the Mercure endpoint is served.
func (m Mercure) On() bool {
	if m.Enabled != nil {
		return *m.Enabled
	}
	pub, sub := m.Keys()
	return pub.Key != "" || sub.Key != ""
}

// validate checks the section when it is on; a public stream must not
// cover private Mercure updates.
func (m Mercure) validate(c *Config) []error {
	var errs []error
	for _, st := range c.AllStreams() {
		if st.Format == "mercure" {
			errs = append(errs, fmt.Errorf("config: streams.%s.format: \"mercure\" is the Mercure endpoint's internal format; use raw (or subscribe at /.well-known/mercure)", st.Name))
		}
	}
	if !m.On() {
		return errs
	}
	pub, sub := m.Keys()
	for role, k := range map[string]MercureKey{"publisher_jwt": pub, "subscriber_jwt": sub} {
		if k.Alg != "" && !strings.HasPrefix(k.Alg, "HS") && !strings.HasPrefix(k.Alg, "RS") {
			errs = append(errs, fmt.Errorf("config: mercure.%s.alg: %q is not HS256 or RS256", role, k.Alg))
		}
	}
	if m.HubURL != "" && !strings.HasPrefix(m.HubURL, "http://") && !strings.HasPrefix(m.HubURL, "https://") {
		errs = append(errs, fmt.Errorf("config: mercure.hub_url: %q is not an http(s) URL", m.HubURL))
	}
	if m.Heartbeat < 0 {
		errs = append(errs, fmt.Errorf("config: mercure.heartbeat: must not be negative"))
	}
	for _, st := range c.AllStreams() {
		if !st.Public {
			continue
		}
		for _, p := range st.Match {
			if p == "*" || p == "mercure_private.*" || strings.HasPrefix(p, "mercure_private.") {
				errs = append(errs, fmt.Errorf("config: streams.%s.match: %q would show private Mercure updates to anyone (the stream is public); match mercure.* for the public ones", st.Name, p))
			}
		}
	}
	return errs
}
