package bolt

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/ssehub/ssehub"
)

// TestOpenNestedDir: a data directory whose parents do not exist yet is
// created, each new entry's parent synced (makeDir), and the new file's
// directory synced before the first commit; a power loss cannot be
// simulated here, so this checks that the path runs and the store works.
func TestOpenNestedDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b", "data")
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(context.Background(), []*ssehub.Event{{Topic: "t", Data: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if _, err := os.Stat(filepath.Join(dir, FileName)); err != nil {
		t.Fatal(err)
	}
	if err := syncDir(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("syncDir of a missing directory did not fail")
	}
}
