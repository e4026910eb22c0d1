package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/config"
)

func TestDurableStreams(t *testing.T) {
	c := config.Default()
	d := c.DurableStreams.Resolved()
	if !c.DurableStreams.On() || d.PublicRead || d.PublicWrite || time.Duration(d.LongPollTimeout) != 20*time.Second ||
		time.Duration(d.SSEMaxDuration) != time.Minute || d.MaxReadBytes != 1<<20 || d.MaxProducers != 10000 {
		t.Fatalf("defaults: %+v", d)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("durable_streams:\n  enabled: false\n  public_write: true\n  long_poll_timeout: 500ms\n")
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.DurableStreams.On() || !c.DurableStreams.PublicWrite || time.Duration(c.DurableStreams.Resolved().LongPollTimeout) != 500*time.Millisecond {
		t.Fatalf("%+v", c.DurableStreams)
	}
	write("durable_streams:\n  max_read_bytes: -1\n  max_producers: -2\n  refresh: -1s\n")
	_, err = config.Load(path)
	for _, k := range []string{"durable_streams.max_read_bytes", "durable_streams.max_producers", "durable_streams.refresh"} {
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Fatalf("error %v: want one naming %s", err, k)
		}
	}
	write("durable_streams:\n  public: true\n")
	if _, err := config.Load(path); err == nil || !strings.Contains(err.Error(), "public") {
		t.Fatalf("an unknown key: %v", err)
	}
}

// TestDurableNativeTopics: native_topics and native_path are checked when
// the file loads, each error naming its key; a pattern that could reach a
// protocol's topics is refused.
func TestDurableNativeTopics(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	load := func(s string) (*config.Config, error) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return config.Load(path)
	}
	c := config.Default()
	if d := c.DurableStreams.Resolved(); len(d.NativeTopics) != 0 || d.NativePath != "_topics" || d.NativePublicRead {
		t.Fatalf("defaults: %+v", d)
	}
	c, err := load("durable_streams:\n  native_topics: [orders.*, audit.login]\n  native_path: native/v1\n  native_public_read: true\n")
	if err != nil {
		t.Fatal(err)
	}
	d := c.DurableStreams.Resolved()
	if strings.Join(d.NativeTopics, ",") != "orders.*,audit.login" || d.NativePath != "native/v1" || !d.NativePublicRead {
		t.Fatalf("%+v", d)
	}
	if c, err := load("durable_streams:\n  native_topics: orders.*\n"); err != nil || len(c.DurableStreams.NativeTopics) != 1 {
		t.Fatalf("a single pattern: %v %v", c, err)
	}
	for _, p := range []string{`"*"`, "ds.*", "ds", "ds.team.x", "mercure.*", "mercure_private.*", "mercure_private.a", "'a..b'", "'a b'"} {
		_, err := load("durable_streams:\n  native_topics: [orders.*, " + p + "]\n")
		if err == nil || !strings.Contains(err.Error(), "durable_streams.native_topics[1]") {
			t.Errorf("pattern %s: %v", p, err)
		}
	}
	for _, p := range []string{"/x", "x/", "a//b", "..", "a/./b", "'a b'", "a%2Fb"} {
		_, err := load("durable_streams:\n  native_path: " + p + "\n")
		if err == nil || !strings.Contains(err.Error(), "durable_streams.native_path") {
			t.Errorf("native_path %s: %v", p, err)
		}
	}
}
