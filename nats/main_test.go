package nats_test

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain checks that the tests leave no goroutine behind: every store
// closed, every embedded server shut down.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := leftovers(10 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines left after the tests:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// leftovers waits for the goroutines the tests started to end and
// returns the stacks of those that did not.
func leftovers(wait time.Duration) string {
	deadline := time.Now().Add(wait)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var left []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "nats_test.TestMain") {
				continue // this one
			}
			if strings.Contains(g, "github.com/ssehub/ssehub") || strings.Contains(g, "github.com/nats-io/") {
				left = append(left, g)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return strings.Join(left, "\n\n")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
