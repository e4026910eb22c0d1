package config_test

import (
	"testing"

	"github.com/ssehub/ssehub/config"
)

func TestUIOn(t *testing.T) {
	for _, c := range []struct {
		yaml string
		addr string
		want bool
	}{
		{"", ":8080", false},
		{"", "0.0.0.0:8080", false},
		{"", "[::]:8080", false},
		{"", "192.0.2.7:8080", false},
		{"", "127.0.0.1:8080", true},
		{"", "127.0.0.53:9000", true},
		{"", "[::1]:8080", true},
		{"", "localhost:8080", true},
		{"", "LOCALHOST:8080", true},
		{"ui: {enabled: true}\n", ":8080", true},
		{"ui: {enabled: false}\n", "127.0.0.1:8080", false},
	} {
		cfg, err := config.Parse([]byte(c.yaml))
		if err != nil {
			t.Fatalf("%q: %v", c.yaml, err)
		}
		if got := cfg.UI.On(c.addr); got != c.want {
			t.Errorf("%q on %s: On = %v, want %v", c.yaml, c.addr, got, c.want)
		}
	}
	if _, err := config.Parse([]byte("ui: {enable: true}\n")); err == nil {
		t.Error("ui.enable (a typo) was accepted")
	}
}
