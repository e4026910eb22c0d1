package main

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/internal/natstest"
	ssenats "github.com/ssehub/ssehub/nats"
)

// TestClaimAdminHashAcrossNodes: hub nodes starting at once on one NATS
// store, none with a configured admin token, each generate one; before
// the KV's create-if-absent, each stored its own (the last write won), so
// the token a node printed did not work on the others. Now exactly one
// node's token is stored and printed, and every node uses its hash.
func TestClaimAdminHashAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	srv := natstest.Start(t, 1)
	ctx := context.Background()
	const nodes = 4
	type result struct {
		hash      [32]byte
		generated string
	}
	results := make([]result, nodes)
	stores := make([]*ssenats.Store, nodes)
	for i := range stores {
		s, err := ssenats.Open(ctx, ssenats.Options{URL: srv.URL(), Stream: "ADM", Logger: natstest.Quiet})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores[i] = s
	}
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := "token-of-node-" + string(rune('a'+i))
			h, g, err := claimAdminHash(ctx, stores[i], httpapi.HashToken(tok), tok, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Error(err)
			}
			results[i] = result{h, g}
		}()
	}
	wg.Wait()
	printed := 0
	for i, r := range results {
		if r.hash != results[0].hash {
			t.Errorf("node %d uses another admin hash than node 0", i)
		}
		if r.generated != "" {
			printed++
			if httpapi.HashToken(r.generated) != r.hash {
				t.Errorf("node %d prints a token whose hash it does not use", i)
			}
		}
	}
	if printed != 1 {
		t.Errorf("%d nodes print a generated token, want exactly 1", printed)
	}
}
