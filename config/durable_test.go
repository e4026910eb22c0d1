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
