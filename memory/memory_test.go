package memory_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/internal/logtest"
	"github.com/ssehub/ssehub/memory"
)

func TestConformance(t *testing.T) {
	logtest.Run(t, logtest.Config{
		Open: func(*testing.T) ssehub.Store { return memory.New(memory.Options{}) },
		OpenRetention: func(_ *testing.T, r ssehub.Retention) ssehub.Store {
			return memory.New(memory.Options{Retention: r})
		},
	})
}

var bg = context.Background()

func appendOne(t *testing.T, l *memory.Log, topic string, data []byte) uint64 {
	t.Helper()
	res, err := l.Append(bg, []*ssehub.Event{{Topic: topic, Data: data}})
	if err != nil {
		t.Fatal(err)
	}
	return res[0].ID
}

func bounds(t *testing.T, l ssehub.Log) (first, head uint64) {
	t.Helper()
	p, err := l.Bounds(bg)
	if err != nil {
		t.Fatal(err)
	}
	return p.First, p.Head
}

// ids reads every retained event's id.
func ids(t *testing.T, l ssehub.Log) []uint64 {
	t.Helper()
	var out []uint64
	if err := l.Read(bg, 0, ssehub.All(), func(e *ssehub.Event) error { out = append(out, e.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// followFirst returns the first id Follow from 0 delivers.
func followFirst(t *testing.T, l ssehub.Log) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(bg, 5*time.Second)
	defer cancel()
	var first uint64
	stop := errors.New("stop")
	if err := l.Follow(ctx, 0, func(e *ssehub.Event) error { first = e.ID; return stop }); !errors.Is(err, stop) {
		t.Fatalf("follow: %v", err)
	}
	return first
}

func TestRetentionByCount(t *testing.T) {
	l := memory.New(memory.Options{Retention: ssehub.Retention{MaxEvents: 10}})
	defer l.Close()
	for i := 0; i < 25; i++ {
		topic := "a"
		if i%5 == 0 {
			topic = "b" // ids 1, 6, 11, 16, 21
		}
		appendOne(t, l, topic, []byte("x"))
	}
	if first, head := bounds(t, l); first != 16 || head != 25 {
		t.Fatalf("bounds %d, %d", first, head)
	}
	if got := ids(t, l); len(got) != 10 || got[0] != 16 || got[9] != 25 {
		t.Fatalf("read after retention: %v", got)
	}
	infos, _ := l.Topics(bg, "", 0)
	if fmt.Sprint(infos) != "[{a 8 25} {b 2 21}]" {
		t.Fatalf("topics after retention: %v", infos)
	}
	if id := followFirst(t, l); id != 16 {
		t.Fatalf("follow from 0 began at %d", id)
	}
}

func TestRetentionByBytes(t *testing.T) {
	l := memory.New(memory.Options{Retention: ssehub.Retention{MaxBytes: 1000}})
	defer l.Close()
	for i := 0; i < 100; i++ {
		appendOne(t, l, "r", make([]byte, 100))
	}
	// Each event is 64+1+100 = 165 bytes: 6 fit in 1000.
	if first, head := bounds(t, l); first != 95 || head != 100 {
		t.Fatalf("bounds %d, %d", first, head)
	}
	if got := ids(t, l); len(got) != 6 {
		t.Fatalf("read %v", got)
	}
	if st := l.StoreStats(); st.Events != 6 || st.Bytes != 6*165 || st.RetentionLag != 0 {
		t.Fatalf("stats %+v", st)
	}
	if id := followFirst(t, l); id != 95 {
		t.Fatalf("follow from 0 began at %d", id)
	}
}

// TestBoundsHoldAfterEveryAppend: count and byte bounds hold when each
// Append returns, however fast appends come (the janitor ticks once a
// second and plays no part).
func TestBoundsHoldAfterEveryAppend(t *testing.T) {
	l := memory.New(memory.Options{Retention: ssehub.Retention{MaxEvents: 100, MaxBytes: 20_000}})
	defer l.Close()
	for i := 0; i < 5000; i++ {
		n := 1 + i%7
		evs := make([]*ssehub.Event, n)
		for j := range evs {
			evs[j] = &ssehub.Event{Topic: fmt.Sprint("t", i%13), Data: make([]byte, i%300)}
		}
		if _, err := l.Append(bg, evs); err != nil {
			t.Fatal(err)
		}
		st := l.StoreStats()
		if st.Events > 100 || st.Bytes > 20_000 || st.RetentionLag != 0 {
			t.Fatalf("after append %d: %+v", i, st)
		}
	}
}

func TestRetentionByAge(t *testing.T) {
	l := memory.New(memory.Options{Retention: ssehub.Retention{MaxAge: 100 * time.Millisecond}})
	defer l.Close()
	if _, err := l.Append(bg, []*ssehub.Event{{Topic: "r"}, {Topic: "r"}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	// Past MaxAge, before the janitor's tick: a lag, and a metric of it.
	if st := l.StoreStats(); st.Events == 2 && st.RetentionLag != 2 {
		t.Fatalf("stats before the janitor: %+v, want a lag of 2", st)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if first, head := bounds(t, l); first == 3 && head == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("old events were not removed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st := l.StoreStats(); st.RetentionLag != 0 || st.Events != 0 {
		t.Fatalf("stats after the janitor: %+v", st)
	}
	if infos, _ := l.Topics(bg, "", 0); len(infos) != 0 {
		t.Fatalf("topics after age retention: %+v (a topic with no retained event is not listed)", infos)
	}
	if got := ids(t, l); len(got) != 0 {
		t.Fatalf("read %v", got)
	}
	if id := appendOne(t, l, "r", nil); id != 3 {
		t.Fatalf("next id %d", id)
	}
	if id := followFirst(t, l); id != 3 {
		t.Fatalf("follow from 0 began at %d", id)
	}
}

// TestDefaultBound: with no retention the log still stops at
// DefaultMaxBytes. The size sits in Entity, a string the log does not copy,
// so the test moves no 300 MB around.
func TestDefaultBound(t *testing.T) {
	l := memory.New(memory.Options{})
	defer l.Close()
	big := strings.Repeat("e", 100<<20)
	for i := 0; i < 3; i++ {
		if _, err := l.Append(bg, []*ssehub.Event{{Topic: "r", Entity: big}}); err != nil {
			t.Fatal(err)
		}
	}
	if first, head := bounds(t, l); first != 2 || head != 3 {
		t.Fatalf("bounds %d, %d: the default %d-byte bound did not apply", first, head, memory.DefaultMaxBytes)
	}
}

// TestTooLargeFailsOnlyItsAppend: a batch that could never be retained (more
// bytes than MaxBytes), or an idempotency key past the limit, fails with
// ErrTooLarge, stores nothing, and leaves the log as it was; the batch
// limit is lowered to MaxEvents.
func TestTooLargeFailsOnlyItsAppend(t *testing.T) {
	l := memory.New(memory.Options{Retention: ssehub.Retention{MaxEvents: 50, MaxBytes: 10_000}})
	defer l.Close()
	appendOne(t, l, "ok", []byte("before"))
	if c := l.Capabilities(); c.MaxBatch != 50 || !c.DenseIDs {
		t.Fatalf("capabilities %+v: MaxBatch is lowered to MaxEvents", c)
	}
	cases := map[string][]*ssehub.Event{
		"one event past MaxBytes": {{Topic: "big", Data: make([]byte, 10_000)}},
		"a batch past MaxBytes":   {{Topic: "big", Data: make([]byte, 6000)}, {Topic: "big", Data: make([]byte, 6000)}},
		"a 40,000-byte key":       {{Topic: "k", Key: strings.Repeat("k", 40_000)}},
	}
	for name, evs := range cases {
		_, err := l.Append(bg, evs)
		if !errors.Is(err, ssehub.ErrTooLarge) {
			t.Fatalf("%s: %v, want ErrTooLarge", name, err)
		}
		t.Logf("%s: %v", name, err)
	}
	if got := ids(t, l); fmt.Sprint(got) != "[1]" {
		t.Fatalf("the refused appends changed the log: %v", got)
	}
	if id := appendOne(t, l, "ok", []byte("after")); id != 2 {
		t.Fatalf("next id %d", id)
	}
}

// TestDedupeKeysBounded: the store remembers at most MaxEvents keys, so a
// flood of unique keys inside the window cannot grow it without bound; the
// newest keys still deduplicate.
func TestDedupeKeysBounded(t *testing.T) {
	l := memory.New(memory.Options{Retention: ssehub.Retention{MaxEvents: 10}})
	defer l.Close()
	for i := 0; i < 100; i++ {
		if _, err := l.Append(bg, []*ssehub.Event{{Topic: "d", Key: fmt.Sprint(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	r, err := l.Append(bg, []*ssehub.Event{{Topic: "d", Key: "99"}})
	if err != nil || !r[0].Duplicate || r[0].ID != 100 {
		t.Fatalf("a recent key: %+v %v", r, err)
	}
	r, err = l.Append(bg, []*ssehub.Event{{Topic: "d", Key: "0"}})
	if err != nil || r[0].Duplicate {
		t.Fatalf("the oldest key is forgotten past MaxEvents keys: %+v %v", r, err)
	}
}

// TestDedupeWindowExpires: after the window a key is new again.
func TestDedupeWindowExpires(t *testing.T) {
	l := memory.New(memory.Options{DedupeWindow: 50 * time.Millisecond})
	defer l.Close()
	ev := func() []*ssehub.Event { return []*ssehub.Event{{Topic: "d", Key: "k"}} }
	r1, _ := l.Append(bg, ev())
	r2, _ := l.Append(bg, ev())
	if !r2[0].Duplicate || r2[0].ID != r1[0].ID {
		t.Fatalf("inside the window: %+v", r2)
	}
	time.Sleep(100 * time.Millisecond)
	r3, _ := l.Append(bg, ev())
	if r3[0].Duplicate || r3[0].ID != 2 {
		t.Fatalf("after the window: %+v", r3)
	}
}

// TestManyTopics: a prefix read over more topics than the store merges
// scans instead, with the same events; topics are pruned as retention
// removes their last event, and paging stays sorted.
func TestManyTopics(t *testing.T) {
	l := memory.New(memory.Options{Retention: ssehub.Retention{MaxEvents: 2000}})
	defer l.Close()
	for i := 0; i < 3000; i++ {
		appendOne(t, l, fmt.Sprintf("u.%05d", i), nil)
	}
	n := 0
	var last uint64
	if err := l.Read(bg, 0, ssehub.MustFilter("u.*"), func(e *ssehub.Event) error {
		if e.ID <= last {
			return fmt.Errorf("id %d after %d", e.ID, last)
		}
		last = e.ID
		n++
		return nil
	}); err != nil || n != 2000 {
		t.Fatalf("read %d events (%v)", n, err)
	}
	infos, _ := l.Topics(bg, "", 0)
	if len(infos) != 2000 || infos[0].Topic != "u.01000" || infos[1999].Topic != "u.02999" {
		t.Fatalf("%d topics, %v ... ", len(infos), infos[:1])
	}
	page, _ := l.Topics(bg, "u.01500", 3)
	if fmt.Sprint(page) != "[{u.01501 1 1502} {u.01502 1 1503} {u.01503 1 1504}]" {
		t.Fatalf("page %v", page)
	}
}

// TestCloseStopsGoroutines: the janitor ends with Close.
func TestCloseStopsGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	for i := 0; i < 10; i++ {
		memory.New(memory.Options{}).Close()
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines before, %d after closing", before, runtime.NumGoroutine())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDriver: the package registers "memory", which rejects settings it
// does not have.
func TestDriver(t *testing.T) {
	d, ok := ssehub.LookupDriver("memory")
	if !ok {
		t.Fatal("memory driver not registered")
	}
	s, err := ssehub.OpenStore(bg, "memory", ssehub.StoreConfig{Retention: ssehub.Retention{MaxEvents: 5}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if c := s.Capabilities(); c.MaxBatch != 5 {
		t.Fatalf("the driver passed no retention: %+v", c)
	}
	bad := ssehub.StoreConfig{Settings: func(any) error { return errors.New(`unknown field "x"`) }}
	if err := d.Validate(bad); err == nil {
		t.Fatal("a storage.memory section was accepted")
	}
	if got := d.Describe(ssehub.StoreConfig{}); !strings.HasPrefix(got, "memory") {
		t.Fatalf("describe %q", got)
	}
}

func Example() {
	l := memory.New(memory.Options{Retention: ssehub.Retention{MaxEvents: 1000}})
	defer l.Close()
	res, _ := l.Append(context.Background(), []*ssehub.Event{{Topic: "orders.created", Data: []byte(`{"id":1}`)}})
	fmt.Println("id", res[0].ID)
	l.Read(context.Background(), 0, ssehub.MustFilter("orders.*"), func(e *ssehub.Event) error {
		fmt.Println(e.Topic, string(e.Data))
		return nil
	})
	// Output:
	// id 1
	// orders.created {"id":1}
}
