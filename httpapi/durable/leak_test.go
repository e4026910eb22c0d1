package durable_test

import (
	"testing"

	"github.com/ssehub/ssehub/internal/leakcheck"
)

// TestMain fails the package when goroutines outlive its tests: every hub,
// long-poll, SSE response, append queue leader and client a test starts
// must be gone once its cleanup has run (10 s of grace).
func TestMain(m *testing.M) { leakcheck.Main(m) }
