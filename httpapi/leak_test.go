package httpapi_test

import (
	"testing"

	"github.com/ssehub/ssehub/internal/leakcheck"
)

// TestMain fails the package when goroutines outlive its tests: every hub,
// stream, pump and client a test starts must be gone once its cleanup has
// run (the client's idle connections are closed first; 10 s of grace).
func TestMain(m *testing.M) { leakcheck.Main(m) }
