package config_test

import (
	"strings"
	"testing"

	"github.com/ssehub/ssehub/config"
)

func TestCompression(t *testing.T) {
	for _, c := range []struct {
		yaml string
		want string
	}{
		{"", "off"},
		{"server: {compression: off}\n", "off"},
		{"server: {compression: false}\n", "off"},
		{"server: {compression: gzip}\n", "gzip"},
		{"server: {compression: ZSTD}\n", "zstd"},
		{"server: {compression: auto}\n", "auto"},
		{"server:\n  compression: \"${SSEHUB_TEST_COMPRESSION}\"\n", "gzip"},
	} {
		t.Setenv("SSEHUB_TEST_COMPRESSION", "gzip")
		cfg, err := config.Parse([]byte(c.yaml))
		if err != nil {
			t.Fatalf("%q: %v", c.yaml, err)
		}
		if got := cfg.Server.Compression.Mode(); got != c.want {
			t.Errorf("%q: %q, want %q", c.yaml, got, c.want)
		}
	}
	for _, bad := range []string{"server: {compression: brotli}\n", "server: {compression: [gzip]}\n", "server: {compression: on}\n"} {
		if _, err := config.Parse([]byte(bad)); err == nil || !strings.Contains(err.Error(), "compression") {
			t.Errorf("%q: error %v, want one naming server.compression", bad, err)
		}
	}
	cfg := config.Default()
	cfg.Server.Compression = "lz4" // set in code, not parsed
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "server.compression") {
		t.Errorf("Validate: %v", err)
	}
}
