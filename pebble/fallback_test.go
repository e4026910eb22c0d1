package pebble

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ssehub/ssehub"
)

// TestGroupFailureRetriesAlone: when a group's batch fails for a reason
// the checks before it cannot see (here a write that fails for one
// event), each request is retried in its own batch: only the failing one
// gets the error, the others are stored and acknowledged once.
func TestGroupFailureRetriesAlone(t *testing.T) {
	errPoison := errors.New("poisoned put")
	var calls sync.Map // data -> number of tries
	var retried atomic.Int64
	testHookPut = func(e *ssehub.Event) error {
		n, _ := calls.LoadOrStore(string(e.Data), new(atomic.Int64))
		if n.(*atomic.Int64).Add(1) == 2 {
			retried.Add(1)
		}
		if string(e.Data) == "poison" {
			return errPoison
		}
		return nil
	}
	defer func() { testHookPut = nil }()
	l, err := Open(t.TempDir(), Options{NoSync: true, CacheSize: 1 << 20, MemTableSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for round := 0; round < 20 && retried.Load() == 0; round++ {
		var wg sync.WaitGroup
		errs := make([]error, 64)
		start := make(chan struct{})
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				data := fmt.Sprint(round, "-", i)
				if i == 13 {
					data = "poison"
				}
				<-start
				_, errs[i] = l.Append(context.Background(), []*ssehub.Event{{Topic: "t", Data: []byte(data)}, {Topic: "u", Data: []byte(data + "b")}})
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if i == 13 != errors.Is(err, errPoison) {
				t.Fatalf("round %d append %d: %v", round, i, err)
			}
		}
	}
	if retried.Load() == 0 {
		t.Fatal("no group with the poisoned append formed in 20 rounds")
	}
	seen := map[string]int{}
	if err := l.Read(context.Background(), 0, ssehub.All(), func(e *ssehub.Event) error { seen[string(e.Data)]++; return nil }); err != nil {
		t.Fatal(err)
	}
	p, _ := l.Bounds(context.Background())
	if seen["poison"] != 0 || seen["poisonb"] != 0 || uint64(len(seen)) != p.Head {
		t.Fatalf("%d distinct events stored, head %d, poison %d", len(seen), p.Head, seen["poison"])
	}
	for d, n := range seen {
		if n != 1 {
			t.Fatalf("event %s stored %d times", d, n)
		}
	}
	if ti, err := l.Topic(context.Background(), "t"); err != nil || uint64(ti.Events)*2 != p.Head {
		t.Fatalf("topic t: %+v %v, head %d", ti, err, p.Head)
	}
}
