package nats_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/config"
	"github.com/ssehub/ssehub/internal/natstest"
	ssenats "github.com/ssehub/ssehub/nats"
)

// TestFieldsRoundTrip: fields a NATS header cannot carry as they are (line
// breaks in meta, blanks around a key, control characters) come back
// unchanged, and data is never altered.
func TestFieldsRoundTrip(t *testing.T) {
	srv := natstest.Start(t, 1)
	s, err := ssenats.Open(context.Background(), ssenats.Options{URL: srv.URL(), Stream: "RT", Logger: natstest.Quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	in := &ssehub.Event{Topic: "rt", Type: "t y", Key: " spaced key ", Entity: "é\tx", Source: "a\x01b",
		Meta: []byte("{\n  \"a\": 1\n}"), Data: []byte("\r\n\x00binary\xff")}
	if _, err := s.Append(context.Background(), []*ssehub.Event{in}); err != nil {
		t.Fatal(err)
	}
	var got *ssehub.Event
	if err := s.Read(context.Background(), 0, ssehub.All(), func(e *ssehub.Event) error { got = e; return nil }); err != nil || got == nil {
		t.Fatalf("read: %v", err)
	}
	if got.Type != in.Type || got.Key != in.Key || got.Entity != in.Entity || got.Source != in.Source ||
		string(got.Meta) != string(in.Meta) || string(got.Data) != string(in.Data) || !got.Time.Equal(in.Time) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, in)
	}
}

// TestUnavailable: with its server gone, the store reports itself
// unhealthy and an append fails within the publish timeout with an error
// wrapping ssehub.ErrUnavailable (the publish handler's 503).
func TestUnavailable(t *testing.T) {
	srv := natstest.Start(t, 1)
	s, err := ssenats.Open(context.Background(), ssenats.Options{URL: srv.URL(), Stream: "UN", PublishTimeout: 500 * time.Millisecond, Logger: natstest.Quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Healthy(context.Background()); err != nil {
		t.Fatalf("healthy: %v", err)
	}
	srv.Kill(0)
	time.Sleep(1100 * time.Millisecond) // past the health answer's cache
	if err := s.Healthy(context.Background()); !errors.Is(err, ssehub.ErrUnavailable) {
		t.Fatalf("healthy without a server: %v", err)
	}
	start := time.Now()
	_, err = s.Append(context.Background(), []*ssehub.Event{{Topic: "u", Data: []byte("x")}})
	if !errors.Is(err, ssehub.ErrUnavailable) {
		t.Fatalf("append without a server: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("append failed after %v", d)
	}
	_, err = s.Append(context.Background(), []*ssehub.Event{{Topic: "u", Data: []byte("x")}, {Topic: "u", Data: []byte("y")}})
	if !errors.Is(err, ssehub.ErrUnavailable) {
		t.Fatalf("batch append without a server: %v", err)
	}
	srv.Restart(0)
	if err := waitHealthy(s, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(context.Background(), []*ssehub.Event{{Topic: "u", Data: []byte("back")}}); err != nil {
		t.Fatalf("append after the server came back: %v", err)
	}
}

func waitHealthy(s *ssenats.Store, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		err := s.Healthy(context.Background())
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestMaxBatchAndTooLarge: a batch over max_batch and an event over the
// servers' max_payload fail with ErrTooLarge and store nothing.
func TestTooLarge(t *testing.T) {
	srv := natstest.Start(t, 1)
	s, err := ssenats.Open(context.Background(), ssenats.Options{URL: srv.URL(), Stream: "TL", MaxBatch: 3, Logger: natstest.Quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	evs := []*ssehub.Event{{Topic: "a"}, {Topic: "a"}, {Topic: "a"}, {Topic: "a"}}
	if _, err := s.Append(context.Background(), evs); !errors.Is(err, ssehub.ErrTooLarge) {
		t.Fatalf("4 events with max_batch 3: %v", err)
	}
	big := &ssehub.Event{Topic: "a", Data: make([]byte, 2<<20)}
	if _, err := s.Append(context.Background(), []*ssehub.Event{big}); !errors.Is(err, ssehub.ErrTooLarge) {
		t.Fatalf("a 2 MiB event: %v", err)
	}
	if p, _ := s.Bounds(context.Background()); p.Head != 0 {
		t.Fatalf("refused appends stored events: %+v", p)
	}
}

// TestDriverSettings: a configuration file with the storage.nats keys of a
// deployment validates through the driver registry, and mistakes are
// reported by key.
func TestDriverSettings(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := `storage:
  driver: nats
  nats:
    stream: EVENTS
    replicas: 3
    embedded:
      name: n1
      listen: 127.0.0.1:4222
      cluster_listen: 127.0.0.1:6222
      routes: [nats://127.0.0.1:6222, nats://127.0.0.1:6223, nats://127.0.0.1:6224]
      store_dir: ` + dir + `/nats
`
	cfg, err := config.Load(write(good))
	if err != nil {
		t.Fatalf("a deployment's config: %v", err)
	}
	d, ok := ssehub.LookupDriver("nats")
	if !ok {
		t.Fatal("the nats driver is not registered")
	}
	if got := d.Describe(cfg.Storage.StoreConfig(nil)); !strings.Contains(got, "EVENTS (R3)") || !strings.Contains(got, "n1") {
		t.Errorf("describe: %q", got)
	}
	cases := map[string]string{
		"storage:\n  driver: nats\n":                                                       "storage.nats.url: required",
		"storage:\n  driver: nats\n  nats: {url: http://x}\n":                              "storage.nats.url",
		"storage:\n  driver: nats\n  nats: {url: nats://x:1, replicas: 9}\n":               "storage.nats.replicas",
		"storage:\n  driver: nats\n  nats: {url: nats://x:1, stream: a.b}\n":               "storage.nats.stream",
		"storage:\n  driver: nats\n  nats: {url: nats://x:1, user: u, token: t}\n":         "one kind of credentials",
		"storage:\n  driver: nats\n  nats: {embedded: {cluster_listen: 127.0.0.1:6222}}\n": "storage.nats.embedded.name",
		"storage:\n  driver: nats\n  nats: {url: nats://x:1, bogus: 1}\n":                  "bogus",
	}
	for body, want := range cases {
		if _, err := config.Load(write(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error naming %s", body, err, want)
		}
	}
	// --store nats://… selects the driver and sets the URL.
	c := config.Default()
	c.Storage.Driver = "nats://127.0.0.1:4222"
	if err := c.Validate(); err != nil || c.Storage.Driver != "nats" {
		t.Fatalf("--store nats://: %v (driver %q)", err, c.Storage.Driver)
	}
}

// TestEmbeddedDriverWithToken opens the store through the driver registry
// with an embedded server and a token: the server requires the token, the
// hub's own client presents it, and a client without it is refused.
func TestEmbeddedDriverWithToken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	settings := func(v any) error {
		s := v.(*ssenats.Settings)
		s.Token = "s3cret"
		s.Embedded = &ssenats.EmbeddedSettings{Name: "solo", Listen: addr, StoreDir: t.TempDir()}
		return nil
	}
	store, err := ssehub.OpenStore(context.Background(), "nats", ssehub.StoreConfig{Settings: settings, Logger: natstest.Quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := store.Append(context.Background(), []*ssehub.Event{{Topic: "e", Data: []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	if nc, err := nats.Connect("nats://"+addr, nats.Timeout(2*time.Second)); err == nil {
		nc.Close()
		t.Fatal("a client without the token was let in")
	}
	nc, err := nats.Connect("nats://"+addr, nats.Token("s3cret"))
	if err != nil {
		t.Fatalf("a client with the token: %v", err)
	}
	nc.Close()
}
