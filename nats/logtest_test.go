package nats_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/internal/hubsuite"
	"github.com/ssehub/ssehub/internal/logtest"
	"github.com/ssehub/ssehub/internal/natstest"
	ssenats "github.com/ssehub/ssehub/nats"
)

var streamSeq atomic.Int64

// opener opens fresh stores (a new stream and prefix each) on srv.
func opener(srv *natstest.Cluster, replicas int) logtest.Config {
	open := func(t *testing.T, r ssehub.Retention, name string) ssehub.Store {
		t.Helper()
		s, err := ssenats.Open(context.Background(), ssenats.Options{URL: srv.URL(), Stream: name, SubjectPrefix: "p" + name,
			Replicas: replicas, Retention: r, ReadyTimeout: 20 * time.Second, Logger: natstest.Quiet})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	next := func() string { return fmt.Sprintf("T%d", streamSeq.Add(1)) }
	return logtest.Config{
		Open:          func(t *testing.T) ssehub.Store { return open(t, ssehub.Retention{}, next()) },
		OpenRetention: func(t *testing.T, r ssehub.Retention) ssehub.Store { return open(t, r, next()) },
		Reopen: func(t *testing.T, s ssehub.Store) ssehub.Store {
			name := s.(*ssenats.Store).StreamName()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			return open(t, ssehub.Retention{}, name)
		},
	}
}

// TestLogConformance runs the store conformance suite, unchanged, on one
// server.
func TestLogConformance(t *testing.T) {
	logtest.Run(t, opener(natstest.Start(t, 1), 1))
}

// TestHubSuite runs the hub-level suite (replay, slow subscriber, gap,
// Inboxclaw sink, tokens, deregistration) over the nats store.
func TestHubSuite(t *testing.T) {
	c := opener(natstest.Start(t, 1), 1)
	hubsuite.Run(t, hubsuite.Config{
		Open: func(tb testing.TB) ssehub.Store { return c.Open(tb.(*testing.T)) },
		OpenRetention: func(tb testing.TB, r ssehub.Retention) ssehub.Store {
			return c.OpenRetention(tb.(*testing.T), r)
		},
		Short: testing.Short(),
	})
}
