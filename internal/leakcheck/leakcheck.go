// Package leakcheck fails a test binary whose goroutines outlive its
// tests: every hub, stream, browser and client a test starts must be gone
// once its cleanup has run.
package leakcheck

import (
	"fmt"
	"net/http"
	"os"
	"runtime"
	"testing"
	"time"
)

// baseline is the goroutines of the runtime and the testing package.
const baseline = 4

// Grace is how long the goroutines get to end after the tests.
const Grace = 10 * time.Second

// Main runs m's tests and exits with their code, or with 1 and every
// goroutine's stack when more than the baseline are still running Grace
// after the tests (http.DefaultClient's idle connections are closed
// first). A package calls it from its TestMain.
func Main(m *testing.M) {
	code := m.Run()
	deadline := time.Now().Add(Grace)
	for {
		http.DefaultClient.CloseIdleConnections()
		if runtime.NumGoroutine() <= baseline || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > baseline && code == 0 {
		buf := make([]byte, 1<<20)
		fmt.Fprintf(os.Stderr, "goroutine leak: %d goroutines outlive the tests:\n%s\n", n, buf[:runtime.Stack(buf, true)])
		code = 1
	}
	os.Exit(code)
}
