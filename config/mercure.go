package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ssehub/ssehub"
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
	// NativeTopics are ssehub topic patterns (the syntax of token scopes
	// and streams) whose events Mercure subscribers see too, always as
	// private updates; default none. See CheckMercureNativeTopics.
	NativeTopics StringList `yaml:"native_topics,omitempty"`
	// NativeIRIPrefix is prepended to a native topic to make the topic IRI
	// Mercure subscribers see ("https://example.com/topics/" shows
	// orders.created as https://example.com/topics/orders.created); empty,
	// the IRI is the topic itself.
	NativeIRIPrefix string `yaml:"native_iri_prefix"`
}

// MercureReservedTopics are the ssehub topic patterns a Mercure view of
// native topics may not overlap, each with its reason: they belong to a
// protocol surface that has its own access rules.
var MercureReservedTopics = []struct{ Pattern, Why string }{
	{"mercure.*", "public Mercure updates are shown to Mercure subscribers already, under their own IRIs"},
	{"mercure_private.*", "private Mercure updates are shown to Mercure subscribers already, under their own IRIs and grants"},
	// httpapi/durable.TopicPrefix (httpapi/mercure's tests check it).
	{"ds.*", "Durable Streams' events (data and the ds.* state markers) are read through /v1/stream with its own access rules"},
}

// MaxMercureIRIPrefix bounds mercure.native_iri_prefix, so that a mapped
// IRI (the prefix and a topic of at most 255 bytes) stays a short field.
const MaxMercureIRIPrefix = 1024

// CheckMercureNativeTopics checks mercure.native_topics: each a valid
// pattern that shares no topic with MercureReservedTopics ("*" shares
// all of them: list the native prefixes instead).
func CheckMercureNativeTopics(patterns []string) error {
	var errs []error
	for _, p := range patterns {
		f, err := ssehub.ParseFilter(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("config: mercure.native_topics: %w", err))
			continue
		}
		for _, r := range MercureReservedTopics {
			if !f.Intersect(ssehub.MustFilter(r.Pattern)).IsEmpty() {
				hint := ""
				if p == "*" {
					hint = "; list the native prefixes (orders.*, …) instead of *"
				}
				errs = append(errs, fmt.Errorf("config: mercure.native_topics: %q overlaps %s, which may not be a native topic: %s%s", p, r.Pattern, r.Why, hint))
			}
		}
	}
	return errors.Join(errs...)
}

// CheckMercureIRIPrefix checks mercure.native_iri_prefix: text a Mercure
// topic may hold (no control or format characters), at most
// MaxMercureIRIPrefix bytes.
func CheckMercureIRIPrefix(prefix string) error {
	if len(prefix) > MaxMercureIRIPrefix {
		return fmt.Errorf("config: mercure.native_iri_prefix: longer than %d bytes", MaxMercureIRIPrefix)
	}
	if !utf8.ValidString(prefix) {
		return fmt.Errorf("config: mercure.native_iri_prefix: not valid UTF-8")
	}
	for _, r := range prefix {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f || unicode.Is(unicode.Cf, r) {
			return fmt.Errorf("config: mercure.native_iri_prefix: %q contains a control or format character, which a Mercure topic may not", prefix)
		}
	}
	return nil
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
	if err := CheckMercureNativeTopics(m.NativeTopics); err != nil {
		errs = append(errs, err)
	}
	if err := CheckMercureIRIPrefix(m.NativeIRIPrefix); err != nil {
		errs = append(errs, err)
	}
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
