package interop_test

import (
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	cpebble "github.com/cockroachdb/pebble/v2"
	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/bolt"
	"github.com/ssehub/ssehub/pebble"
)

// TestCheckCommand: `ssehub check` finds which store a data directory
// holds and checks it: OK (exit 0) for a sound bolt or pebble store, the
// findings (exit 1) for one whose keys disagree.
func TestCheckCommand(t *testing.T) {
	ctx := context.Background()
	fill := func(l ssehub.Log) {
		t.Helper()
		for i := 0; i < 20; i++ {
			if _, err := l.Append(ctx, []*ssehub.Event{{Topic: "orders.created", Data: []byte("x")}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	boltDir, pebbleDir := t.TempDir(), t.TempDir()
	b, err := bolt.Open(boltDir, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fill(b)
	b.Close()
	p, err := pebble.Open(pebbleDir, pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fill(p)
	p.Close()
	run := func(dir string) (int, string) {
		t.Helper()
		out, err := exec.Command(hubBinary, "check", "--data", dir).CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, string(out)
	}
	for name, dir := range map[string]string{"bolt": boltDir, "pebble": pebbleDir} {
		code, out := run(dir)
		if code != 0 || !strings.Contains(out, "OK: "+dir+" ("+name+"): 20 events (ids 1 to 20), 1 topics") {
			t.Errorf("check of a sound %s store: exit %d\n%s", name, code, out)
		}
	}
	// A pebble store whose event count disagrees with its events.
	db, err := cpebble.Open(filepath.Join(pebbleDir, pebble.DirName), &cpebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set([]byte("mcount"), binary.BigEndian.AppendUint64(nil, 7), cpebble.Sync); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if code, out := run(pebbleDir); code != 1 || !strings.Contains(out, "DAMAGED: "+pebbleDir+" (pebble)") ||
		!strings.Contains(out, "the event count says 7, the log holds 20 events") || !strings.Contains(out, "no salvage") {
		t.Errorf("check of a damaged pebble store: exit %d\n%s", code, out)
	}
	if code, out := run(t.TempDir()); code != 1 || !strings.Contains(out, "ssehub check:") {
		t.Errorf("check of an empty directory: exit %d\n%s", code, out)
	}
}

// TestOfflineTokenPebble: `ssehub token --data DIR` works on a stopped
// hub's pebble store as on a bolt one: a token created offline is listed
// offline and stored in the directory's KV.
func TestOfflineTokenPebble(t *testing.T) {
	dir := t.TempDir()
	p, err := pebble.Open(dir, pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	out, err := exec.Command(hubBinary, "token", "create", "--purpose", "publish", "--label", "offline-pebble", "--data", dir).Output()
	secret := strings.TrimSpace(string(out))
	if err != nil || len(secret) != 64 {
		t.Fatalf("token create --data on a pebble store: %v %q", err, out)
	}
	out, err = exec.Command(hubBinary, "token", "list", "--data", dir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "offline-pebble") || strings.Contains(string(out), secret) {
		t.Fatalf("token list --data on a pebble store: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, bolt.FileName)); err == nil {
		t.Fatal("the offline token command created a bolt file beside the pebble store")
	}
}
