package pebble_test

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cpebble "github.com/cockroachdb/pebble/v2"
	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/pebble"
)

// checkStore fills a store the way a hub does: two topics, keyed events,
// retention removing the oldest, KV state; then closes it.
func checkStore(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	l := open(t, dir, small(pebble.Options{NoSync: true, Retention: ssehub.Retention{MaxEvents: 150}}))
	for range 4 {
		appendN(t, l, "orders.created", 40, "")
		appendN(t, l, "orders.paid", 10, "k")
	}
	if err := l.Put(bg, "b", "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestCheckSound: a store written and closed as a hub does checks OK, and
// the report describes what it holds.
func TestCheckSound(t *testing.T) {
	dir := checkStore(t)
	rep, err := pebble.Check(bg, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("a sound store: %v", rep.Problems)
	}
	l := open(t, dir, pebble.Options{})
	p := pos(t, l)
	stats := l.StoreStats()
	l.Close()
	if rep.Events != stats.Events || rep.Bytes != stats.Bytes || rep.First != p.First || rep.Head != p.Head || rep.Epoch != p.Epoch || rep.Topics != 2 {
		t.Fatalf("report %+v; the store says %+v, %+v", rep, p, stats)
	}
}

// TestCheckInUse: Check never reads a store a hub has open.
func TestCheckInUse(t *testing.T) {
	dir := checkStore(t)
	l := open(t, dir, pebble.Options{})
	defer l.Close()
	if _, err := pebble.Check(bg, dir); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("Check of an open store: %v", err)
	}
	if _, err := pebble.Check(bg, t.TempDir()); err == nil {
		t.Fatal("Check of an empty directory did not fail")
	}
}

// TestCheckFindsInconsistencies: keys changed underneath the store (as a
// bug or a half-restored backup could leave them) are each reported.
func TestCheckFindsInconsistencies(t *testing.T) {
	dir := checkStore(t)
	db, err := cpebble.Open(filepath.Join(dir, pebble.DirName), &cpebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	u64 := func(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
	index := func(topic string, id uint64) []byte {
		return binary.BigEndian.AppendUint64(append(append([]byte{'i'}, topic...), 0), id)
	}
	b := db.NewBatch()
	_ = b.Set([]byte("mcount"), u64(7), nil)                          // a wrong event count
	_ = b.Set(index("orders.paid", 1<<40), nil, nil)                  // an index entry without its event
	_ = b.Set(append([]byte{'t'}, "ghost"...), make([]byte, 16), nil) // harmless: an empty topic entry
	_ = b.Set(append([]byte{'t'}, "orders.paid"...), append(u64(3), u64(9)...), nil)
	_ = b.Set(append([]byte{'e'}, u64(1<<41)...), []byte{0xff, 1, 2}, nil) // a record that does not decode
	if err := b.Commit(cpebble.Sync); err != nil {
		t.Fatal(err)
	}
	db.Close()
	rep, err := pebble.Check(bg, dir)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK {
		t.Fatal("a damaged store checked OK")
	}
	all := strings.Join(rep.Problems, "\n")
	for _, want := range []string{
		"the event count says 7",
		"the index names event 1099511627776, which the log does not hold",
		`topic "orders.paid": the topic entry counts 3 events`,
		"event 2199023255552: its record does not decode",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no problem %q in:\n%s", want, all)
		}
	}
	if strings.Contains(all, "ghost") {
		t.Errorf("an empty topic entry was reported:\n%s", all)
	}
}

// TestCheckDamagedFiles: bytes flipped in the store's table files are
// reported (pebble's block checksums), never a panic, never OK.
func TestCheckDamagedFiles(t *testing.T) {
	dir := checkStore(t)
	// Compact so the events sit in table files, not only in the WAL.
	db, err := cpebble.Open(filepath.Join(dir, pebble.DirName), &cpebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Compact(bg, []byte{0}, []byte{0xff}, true); err != nil {
		t.Fatal(err)
	}
	db.Close()
	ssts, _ := filepath.Glob(filepath.Join(dir, pebble.DirName, "*.sst"))
	if len(ssts) == 0 {
		t.Fatal("no table files after a compaction")
	}
	for _, f := range ssts {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i := 64; i < len(b)/2; i += 97 {
			b[i] ^= 0x5a
		}
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := pebble.Check(bg, dir)
	if err == nil && rep.OK {
		t.Fatal("a store with damaged table files checked OK")
	}
	if all := strings.Join(rep.Problems, "\n"); err == nil && !strings.Contains(all, "checksum") {
		t.Errorf("the problems do not name the checksum failure: %s", all)
	}
	t.Logf("err %v, problems %q", err, rep.Problems)
}
