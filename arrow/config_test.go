package arrow_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/config"
	_ "github.com/ssehub/ssehub/memory" // a store driver for the config to name
)

// TestArrowStreamDefaults: format: arrow validates once the arrow package
// is linked in, and takes BoilStream's defaults (15 s heartbeat with empty
// data, a comment hello so the schema is the first event); the
// max_ingest_bytes limit defaults to 128 KiB.
func TestArrowStreamDefaults(t *testing.T) {
	c, err := config.Parse([]byte("storage: {driver: memory}\nstreams:\n  ticks: {format: arrow}\n  pinged: {format: arrow, heartbeat_style: event, heartbeat: 5s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	st := c.AllStreams()
	if st[1].Name != "ticks" || st[1].Heartbeat != 15*time.Second || st[1].HeartbeatStyle != "empty" || st[1].Hello != "comment" {
		t.Fatalf("%+v", st[1])
	}
	if st[0].Heartbeat != 5*time.Second || st[0].HeartbeatStyle != "event" {
		t.Fatalf("%+v", st[0])
	}
	if c.Limits.MaxIngestBytes != 128<<10 {
		t.Fatalf("max_ingest_bytes %d", c.Limits.MaxIngestBytes)
	}
	if _, err := config.Parse([]byte("storage: {driver: memory}\nlimits: {max_ingest_bytes: -1}\n")); err == nil || !strings.Contains(err.Error(), "limits.max_ingest_bytes") {
		t.Fatalf("negative limit: %v", err)
	}
}
