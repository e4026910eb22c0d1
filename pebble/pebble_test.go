package pebble_test

import (
	"context"
	"sync"
	"testing"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/internal/hubsuite"
	"github.com/ssehub/ssehub/internal/logtest"
	"github.com/ssehub/ssehub/pebble"
)

var bg = context.Background()

func open(t testing.TB, dir string, o pebble.Options) *pebble.Log {
	t.Helper()
	l, err := pebble.Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func pos(t testing.TB, l *pebble.Log) ssehub.Position {
	t.Helper()
	p, err := l.Bounds(bg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// small keeps pebble's memory small in tests (many stores are open at once).
func small(o pebble.Options) pebble.Options {
	o.CacheSize, o.MemTableSize = 1<<20, 1<<20
	return o
}

// conformance runs logtest with options o; the store reopens on its
// directory with the options it was opened with.
func conformance(t *testing.T, o pebble.Options) {
	var mu sync.Mutex
	opened := map[ssehub.Store]pebble.Options{}
	openWith := func(t *testing.T, dir string, o pebble.Options) ssehub.Store {
		l := open(t, dir, o)
		mu.Lock()
		opened[l] = o
		mu.Unlock()
		return l
	}
	logtest.Run(t, logtest.Config{
		Open: func(t *testing.T) ssehub.Store { return openWith(t, t.TempDir(), o) },
		OpenRetention: func(t *testing.T, r ssehub.Retention) ssehub.Store {
			o := o
			o.Retention = r
			return openWith(t, t.TempDir(), o)
		},
		Reopen: func(t *testing.T, s ssehub.Store) ssehub.Store {
			l := s.(*pebble.Log)
			mu.Lock()
			o := opened[s]
			mu.Unlock()
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			return openWith(t, l.Dir(), o)
		},
	})
}

func TestConformance(t *testing.T) { conformance(t, small(pebble.Options{NoSync: true})) }

func TestConformanceDurable(t *testing.T) {
	if testing.Short() {
		t.Skip("fsync on every commit")
	}
	conformance(t, small(pebble.Options{}))
}

// TestHubSuite runs the hub-level suite (a whole hub over HTTP) on the
// store, durable.
func TestHubSuite(t *testing.T) {
	hubsuite.Run(t, hubsuite.Config{
		Open: func(t testing.TB) ssehub.Store { return open(t, t.TempDir(), small(pebble.Options{})) },
		OpenRetention: func(t testing.TB, r ssehub.Retention) ssehub.Store {
			return open(t, t.TempDir(), small(pebble.Options{Retention: r}))
		},
		Short: testing.Short(),
	})
}
