package hubsuite_test

import (
	"testing"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/internal/hubsuite"
	"github.com/ssehub/ssehub/memory"
)

// TestMemory runs the suite on the memory store.
func TestMemory(t *testing.T) {
	hubsuite.Run(t, hubsuite.Config{
		Open: func(testing.TB) ssehub.Store { return memory.New(memory.Options{}) },
		OpenRetention: func(_ testing.TB, r ssehub.Retention) ssehub.Store {
			return memory.New(memory.Options{Retention: r})
		},
		Short: testing.Short(),
	})
}
