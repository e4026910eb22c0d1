package mercure

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/natstest"
	ssenats "github.com/ssehub/ssehub/nats"
)

// TestIDIndexAcrossNodes: nodes on one NATS store record one
// publisher-supplied id for different updates at the same moment (each
// checks, then writes: a plain Put let the last writer win); the index
// keeps the earliest update, as the specification wants of a reused id.
func TestIDIndexAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	srv := natstest.Start(t, 1)
	ctx := context.Background()
	const nodes = 4
	idx := make([]*idIndex, nodes)
	for i := range idx {
		s, err := ssenats.Open(ctx, ssenats.Options{URL: srv.URL(), Stream: "IDS", Logger: natstest.Quiet, ReadyTimeout: 20 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		h, err := hub.New(ctx, s, hub.Options{})
		if err != nil {
			t.Fatal(err)
		}
		idx[i] = &idIndex{kv: s, hub: h}
	}
	// Events for the log ids to refer to (Bounds must hold them).
	if _, err := idx[0].hub.Publish(ctx, []*ssehub.Event{{Topic: "a", Data: []byte("1")}, {Topic: "a", Data: []byte("2")},
		{Topic: "a", Data: []byte("3")}, {Topic: "a", Data: []byte("4")}}); err != nil {
		t.Fatal(err)
	}
	for round := range 20 {
		id := "urn:round:" + string(rune('a'+round))
		var wg sync.WaitGroup
		for i := range idx {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Node i recorded log id (i+round)%4+1: the earliest
				// is 1, on a different node each round.
				if err := idx[i].record(ctx, id, uint64((i+round)%nodes+1)); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		got, ok, err := idx[0].lookup(ctx, id)
		if err != nil || !ok || got != 1 {
			t.Fatalf("round %d: %s maps to %d (%v, %v), want the earliest, 1", round, id, got, ok, err)
		}
	}
}
