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
