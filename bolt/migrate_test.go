package bolt_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/bolt"
)

// TestMigrateSchema1: testdata/schema1.db was written by the store before
// Store v2 (commit d739fe2: no index, no count, no epoch, records without
// a checksum, a topic "gone" listed with 0 events after retention removed
// ids 1-100). Opening it builds the index and the count, prunes the empty
// topic and gives it an epoch it keeps; the old records read back and
// check OK, and new records mix with them.
func TestMigrateSchema1(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile("testdata/schema1.db")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, bolt.FileName), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if rep, err := bolt.Check(bg, dir); err != nil || !rep.OK || rep.Events != 300 {
		t.Fatalf("check before migration: %+v %v", rep, err)
	}
	l := open(t, dir, bolt.Options{NoSync: true})
	p := pos(t, l)
	if p.First != 101 || p.Head != 400 || len(p.Epoch) != 12 {
		t.Fatalf("position %+v", p)
	}
	infos, err := l.Topics(bg, "", 0)
	if err != nil || fmt.Sprint(infos) != "[{orders.0 98 399} {orders.1 98 397} {orders.2 98 398} {rare 6 400}]" {
		t.Fatalf("topics %v %v", infos, err)
	}
	if _, err := l.Topic(bg, "gone"); !errors.Is(err, ssehub.ErrNotFound) {
		t.Fatalf("the emptied topic was not pruned: %v", err)
	}
	var got []string
	if err := l.Read(bg, 0, ssehub.MustFilter("rare"), func(e *ssehub.Event) error {
		got = append(got, fmt.Sprintf("%d:%s", e.ID, e.Data))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[150:v1-150 200:v1-200 250:v1-250 300:v1-300 350:v1-350 400:v1-400]" {
		t.Fatalf("indexed read of old records: %v", got)
	}
	if e, err := l.Last(bg, "orders.1"); err != nil || e.ID != 397 || string(e.Data) != "v1-397" {
		t.Fatalf("last %+v %v", e, err)
	}
	if r := appendN(t, l, "rare", 1, ""); r[0].ID != 401 {
		t.Fatalf("next id %d", r[0].ID)
	}
	if v, err := l.Get(bg, "tokens", "t1"); err != nil || string(v) != "hash" {
		t.Fatalf("kv %q %v", v, err)
	}
	if st := l.StoreStats(); st.Events != 301 {
		t.Fatalf("stats %+v", st)
	}
	l.Close()
	rep, err := bolt.Check(bg, dir)
	if err != nil || !rep.OK || rep.Events != 301 || rep.Epoch != p.Epoch {
		t.Fatalf("check after migration: %+v %v", rep, err)
	}
	l = open(t, dir, bolt.Options{NoSync: true})
	defer l.Close()
	if pos(t, l).Epoch != p.Epoch {
		t.Fatal("the epoch given at migration changed")
	}
}
