package nats_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/nats"
)

// TestURLCredentialsNotShown guards a defect found by an adversarial pass: a
// NATS URL with credentials (nats://user:password@host, nats://token@host)
// was shown whole where the store is described (serve's "listening on …
// (store: …)" line) and in its errors when no server answers, so the
// password went to the terminal and the log. They show the URL with its
// password or token replaced, and keep the user name and host.
func TestURLCredentialsNotShown(t *testing.T) {
	const pw, tok = "s3cretPassw0rd", "t0kenAuthSecret"
	urls := "nats://alice:" + pw + "@127.0.0.1:1,nats://" + tok + "@127.0.0.1:2"
	d, ok := ssehub.LookupDriver("nats")
	if !ok {
		t.Fatal("no nats driver")
	}
	desc := d.Describe(ssehub.StoreConfig{URL: urls})
	if strings.Contains(desc, pw) || strings.Contains(desc, tok) || !strings.Contains(desc, "alice") || !strings.Contains(desc, "127.0.0.1:2") {
		t.Errorf("the description shows credentials or lost the servers: %q", desc)
	}
	if _, err := nats.Open(context.Background(), nats.Options{URL: "http://bob:" + pw + "@127.0.0.1:1"}); err == nil || strings.Contains(err.Error(), pw) {
		t.Errorf("a URL of the wrong scheme: %v", err)
	}
	_, err := nats.Open(context.Background(), nats.Options{URL: urls, ReadyTimeout: 300 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err == nil {
		t.Fatal("opened a store with no server")
	}
	if strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), tok) {
		t.Errorf("the error shows credentials: %v", err)
	}
}
