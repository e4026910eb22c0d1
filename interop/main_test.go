package interop_test

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// hubBinary is the ssehub executable that TestMain builds once for every test.
var hubBinary string

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// SSEHUB_INTEROP_BINARY runs the tests against a prebuilt ssehub (a
	// release build, say) instead of building this module's cmd/ssehub.
	if bin := os.Getenv("SSEHUB_INTEROP_BINARY"); bin != "" {
		hubBinary = bin
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "ssehub-interop-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "interop:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	hubBinary = filepath.Join(dir, "ssehub")
	start := time.Now()
	if err := buildHub(hubBinary); err != nil {
		fmt.Fprintln(os.Stderr, "interop: build ssehub:", err)
		return 1
	}
	if testing.Verbose() {
		fmt.Printf("interop: built %s in %v (race=%v)\n", hubBinary, time.Since(start).Round(time.Millisecond), raceEnabled)
	}
	return m.Run()
}

// buildHub compiles ./cmd/ssehub of this module, with -tags pebble, into
// out.
func buildHub(out string) error {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = "/usr/local/go/bin/go"
	}
	// With every store, the pebble store included (see
	// cmd/ssehub/features_pebble.go), so the crash tests cover it too.
	args := []string{"build", "-tags", "pebble", "-o", out}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "github.com/ssehub/ssehub/cmd/ssehub")
	cmd := exec.Command(goTool, args...)
	cmd.Dir = ".." // the module root; go test runs in the package directory
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %v: %w\n%s", goTool, args, err, b)
	}
	return nil
}
