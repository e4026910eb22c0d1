package config_test

import (
	"strings"
	"testing"

	"github.com/ssehub/ssehub/config"
)

func TestMercureFromEnvAndFile(t *testing.T) {
	t.Setenv("MERCURE_PUBLISHER_JWT_KEY", "")
	t.Setenv("MERCURE_SUBSCRIBER_JWT_KEY", "")
	cfg, err := config.Parse([]byte("server:\n  addr: \":8080\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Mercure.On() {
		t.Error("Mercure on without a key or mercure.enabled")
	}
	t.Setenv("MERCURE_PUBLISHER_JWT_KEY", "pub")
	t.Setenv("MERCURE_PUBLISHER_JWT_ALG", "HS256")
	t.Setenv("MERCURE_SUBSCRIBER_JWT_KEY", "sub")
	cfg, err = config.Parse([]byte("mercure:\n  issuer: https://a\n  resource_identifier: https://hub/.well-known/mercure\n  anonymous: true\n  subscriber_jwt:\n    key: filekey\n"))
	if err != nil {
		t.Fatal(err)
	}
	pub, sub := cfg.Mercure.Keys()
	if !cfg.Mercure.On() || pub.Key != "pub" || pub.Alg != "HS256" || sub.Key != "filekey" || !cfg.Mercure.Anonymous ||
		len(cfg.Mercure.Issuer) != 1 || cfg.Mercure.ResourceIdentifier == "" {
		t.Errorf("got %+v, keys %+v %+v", cfg.Mercure, pub, sub)
	}
	_, err = config.Parse([]byte("mercure:\n  enabled: true\n  publisher_jwt:\n    key: k\n    alg: ES512\nstreams:\n  all:\n    match: ['*']\n    public: true\n"))
	if err == nil || !strings.Contains(err.Error(), "mercure.publisher_jwt.alg") || !strings.Contains(err.Error(), "private Mercure updates") {
		t.Errorf("want errors for the alg and the public * stream, got %v", err)
	}
	if _, err := config.Parse([]byte("streams:\n  m:\n    format: mercure\n")); err == nil || !strings.Contains(err.Error(), "internal format") {
		t.Errorf("a stream in the mercure format: %v", err)
	}
}

func TestMercureNativeTopics(t *testing.T) {
	cfg, err := config.Parse([]byte("mercure:\n  enabled: true\n  native_topics: [orders.*, billing.paid, ds, mercure]\n  native_iri_prefix: https://example.com/topics/\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Mercure.NativeTopics; len(got) != 4 || got[0] != "orders.*" || cfg.Mercure.NativeIRIPrefix != "https://example.com/topics/" {
		t.Errorf("got %+v", cfg.Mercure)
	}
	if cfg, err := config.Parse([]byte("mercure:\n  enabled: true\n  native_topics: orders.*\n")); err != nil || len(cfg.Mercure.NativeTopics) != 1 {
		t.Errorf("one string: %v %v", err, cfg)
	}
	for _, c := range []struct{ yaml, want string }{
		{"[\"*\"]", "overlaps mercure.*"},
		{"[\"*\"]", "list the native prefixes"},
		{"[ds.*]", "Durable Streams"},
		{"[ds.chat.room]", "overlaps ds.*"},
		{"[mercure.x]", "overlaps mercure.*"},
		{"[mercure_private.*]", "overlaps mercure_private.*"},
		{"[\"orders/x\"]", "invalid topic"},
		{"[\"orders.\"]", "invalid topic"},
		{"[\"$sys.*\"]", "invalid topic"},
	} {
		_, err := config.Parse([]byte("mercure:\n  enabled: true\n  native_topics: " + c.yaml + "\n"))
		if err == nil || !strings.Contains(err.Error(), "mercure.native_topics") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("native_topics %s: %v, want %q", c.yaml, err, c.want)
		}
	}
	for _, prefix := range []string{"\"a\\u0000b\"", "\"a\\u200Bb\"", strings.Repeat("x", config.MaxMercureIRIPrefix+1)} {
		_, err := config.Parse([]byte("mercure:\n  enabled: true\n  native_iri_prefix: " + prefix + "\n"))
		if err == nil || !strings.Contains(err.Error(), "mercure.native_iri_prefix") {
			t.Errorf("native_iri_prefix %.20s: %v", prefix, err)
		}
	}
}
