package pebble_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/pebble"
)

func appendN(t testing.TB, l *pebble.Log, topic string, n int, key string) []ssehub.AppendResult {
	t.Helper()
	evs := make([]*ssehub.Event, n)
	for i := range evs {
		evs[i] = &ssehub.Event{Topic: topic, Key: key, Data: []byte("data")}
	}
	res, err := l.Append(bg, evs)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// waitBounds polls (the janitor runs each second) until the position is want.
func waitBounds(t *testing.T, l *pebble.Log, first, head uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		p := pos(t, l)
		if p.First == first && p.Head == head {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("bounds %d, %d; want %d, %d", p.First, p.Head, first, head)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func readIDs(t *testing.T, l *pebble.Log) []uint64 {
	t.Helper()
	var out []uint64
	if err := l.Read(bg, 0, ssehub.All(), func(e *ssehub.Event) error { out = append(out, e.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestReopen: events, KV, dedupe keys, the epoch and the id sequence
// survive a restart, also when retention removed every event.
func TestReopen(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, small(pebble.Options{}))
	appendN(t, l, "a", 5, "")
	keyed := appendN(t, l, "a", 1, "idem")
	if err := l.Put(bg, "tokens", "t1", []byte("v")); err != nil {
		t.Fatal(err)
	}
	epoch := pos(t, l).Epoch
	l.Close()

	l = open(t, dir, small(pebble.Options{}))
	if p := pos(t, l); p.First != 1 || p.Head != 6 || p.Epoch != epoch {
		t.Fatalf("position after reopen %+v, epoch was %q", p, epoch)
	}
	var got []string
	l.Read(bg, 0, ssehub.All(), func(e *ssehub.Event) error {
		got = append(got, fmt.Sprintf("%d:%s:%s:%s", e.ID, e.Topic, e.Key, e.Data))
		return nil
	})
	if fmt.Sprint(got) != "[1:a::data 2:a::data 3:a::data 4:a::data 5:a::data 6:a:idem:data]" {
		t.Fatalf("events after reopen: %v", got)
	}
	if v, err := l.Get(bg, "tokens", "t1"); err != nil || string(v) != "v" {
		t.Fatalf("kv after reopen: %q %v", v, err)
	}
	if r := appendN(t, l, "a", 1, "idem"); !r[0].Duplicate || r[0].ID != keyed[0].ID {
		t.Fatalf("dedupe after reopen: %+v", r)
	}
	if r := appendN(t, l, "a", 1, ""); r[0].ID != 7 {
		t.Fatalf("next id %d", r[0].ID)
	}
	l.Close()

	// Retention removes everything; ids still continue.
	l = open(t, dir, small(pebble.Options{Retention: ssehub.Retention{MaxAge: time.Nanosecond}}))
	deadline := time.Now().Add(5 * time.Second)
	for pos(t, l).First != pos(t, l).Head+1 {
		if time.Now().After(deadline) {
			t.Fatal("age retention did not run")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if infos, _ := l.Topics(bg, "", 0); len(infos) != 0 {
		t.Fatalf("topics after retention: %+v (a topic with no retained event is pruned)", infos)
	}
	l.Close()
	l = open(t, dir, small(pebble.Options{}))
	defer l.Close()
	if p := pos(t, l); p.First != 8 || p.Head != 7 || p.Epoch != epoch {
		t.Fatalf("position of an emptied log %+v", p)
	}
	if r := appendN(t, l, "a", 1, ""); r[0].ID != 8 {
		t.Fatalf("id after an emptied log: %d", r[0].ID)
	}
}

func TestBatchLimit(t *testing.T) {
	l := open(t, t.TempDir(), small(pebble.Options{NoSync: true, MaxBatch: 10}))
	defer l.Close()
	evs := make([]*ssehub.Event, 11)
	for i := range evs {
		evs[i] = &ssehub.Event{Topic: "x"}
	}
	if _, err := l.Append(bg, evs); !errors.Is(err, ssehub.ErrTooLarge) {
		t.Fatalf("an 11-event batch under a limit of 10: %v", err)
	}
	if c := l.Capabilities(); c.MaxBatch != 10 || !c.DenseIDs {
		t.Fatalf("capabilities %+v", c)
	}
	l2 := open(t, t.TempDir(), small(pebble.Options{NoSync: true, Retention: ssehub.Retention{MaxEvents: 100}}))
	defer l2.Close()
	if c := l2.Capabilities(); c.MaxBatch != 100 {
		t.Fatalf("MaxBatch %d is not lowered to MaxEvents", c.MaxBatch)
	}
}

// TestPoisonedRequestFailsAlone: 64 concurrent appends share group
// commits; one with an idempotency key past the store's key limit, one
// with a topic past it, one with an empty topic each fail alone.
func TestPoisonedRequestFailsAlone(t *testing.T) {
	l := open(t, t.TempDir(), small(pebble.Options{NoSync: true}))
	defer l.Close()
	poison := map[int]*ssehub.Event{
		7:  {Topic: "tenant.7", Key: strings.Repeat("k", 40_000), Data: []byte("bad")},
		21: {Topic: strings.Repeat("t", 40_000), Data: []byte("bad")},
		40: {Topic: "", Data: []byte("bad")},
	}
	for round := 0; round < 20; round++ {
		var wg sync.WaitGroup
		errs := make([]error, 64)
		start := make(chan struct{})
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e := &ssehub.Event{Topic: fmt.Sprint("tenant.", i), Key: fmt.Sprint(round, "-", i), Data: []byte("ok")}
				if p := poison[i]; p != nil {
					c := *p
					e = &c
				}
				<-start
				_, errs[i] = l.Append(bg, []*ssehub.Event{e})
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			switch {
			case i == 7 || i == 21:
				if !errors.Is(err, ssehub.ErrTooLarge) {
					t.Fatalf("round %d: the poisoned append %d: %v, want ErrTooLarge", round, i, err)
				}
				if i == 7 && !strings.Contains(err.Error(), "idempotency key") || i == 21 && !strings.Contains(err.Error(), "topic") {
					t.Fatalf("the error does not name the field: %v", err)
				}
			case i == 40:
				if !errors.Is(err, ssehub.ErrInvalidTopic) {
					t.Fatalf("round %d: the empty topic: %v", round, err)
				}
			case err != nil:
				t.Fatalf("round %d: append %d failed with the poisoned one: %v", round, i, err)
			}
		}
	}
	if p := pos(t, l); p.Head != 20*61 {
		t.Fatalf("head %d, want %d", p.Head, 20*61)
	}
}

// TestOpenTimeoutWhileLocked: a second open of a held directory fails
// within its timeout, naming the directory; one waiting without a timeout
// returns when its context ends.
func TestOpenTimeoutWhileLocked(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, small(pebble.Options{}))
	defer l.Close()
	start := time.Now()
	_, err := pebble.Open(dir, pebble.Options{OpenTimeout: 300 * time.Millisecond})
	if err == nil || time.Since(start) > 2*time.Second || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "gave up after") {
		t.Fatalf("a second open of a locked store: %v after %v", err, time.Since(start))
	}
	ctx, cancel := context.WithCancel(bg)
	time.AfterFunc(200*time.Millisecond, cancel)
	start = time.Now()
	if _, err := pebble.OpenContext(ctx, dir, pebble.Options{OpenTimeout: -1}); !errors.Is(err, context.Canceled) || time.Since(start) > 2*time.Second {
		t.Fatalf("a canceled open: %v after %v", err, time.Since(start))
	}
	// The store is still usable, and the lock is free once it is closed.
	appendN(t, l, "x", 1, "")
	l.Close()
	l2 := open(t, dir, small(pebble.Options{OpenTimeout: time.Second}))
	l2.Close()
}

func TestRetentionByCount(t *testing.T) {
	l := open(t, t.TempDir(), small(pebble.Options{NoSync: true, Retention: ssehub.Retention{MaxEvents: 100}}))
	defer l.Close()
	for i := 0; i < 10; i++ {
		appendN(t, l, "c", 90, "")
		appendN(t, l, "d", 10, "")
		// Exact when Append returns, not a second later.
		if p := pos(t, l); p.Head-p.First+1 > 100 {
			t.Fatalf("after append %d: %+v holds more than 100 events", i, p)
		}
	}
	if p := pos(t, l); p.First != 901 || p.Head != 1000 {
		t.Fatalf("position %+v", p)
	}
	if got := readIDs(t, l); len(got) != 100 || got[0] != 901 {
		t.Fatalf("read %d events from %v", len(got), got[:1])
	}
	infos, _ := l.Topics(bg, "", 0)
	if fmt.Sprint(infos) != "[{c 90 990} {d 10 1000}]" {
		t.Fatalf("topics after retention: %v", infos)
	}
}

// TestRetentionByBytes: the byte total matches Event.Size exactly, so the
// bound keeps exactly as many events as fit, also after a reopen.
func TestRetentionByBytes(t *testing.T) {
	dir := t.TempDir()
	o := small(pebble.Options{NoSync: true, Retention: ssehub.Retention{MaxBytes: 1000}})
	l := open(t, dir, o)
	for i := 0; i < 100; i++ {
		l.Append(bg, []*ssehub.Event{{Topic: "r", Data: make([]byte, 100)}})
	}
	// Each event is 64+1+100 = 165 bytes: 6 fit in 1000.
	if p := pos(t, l); p.First != 95 || p.Head != 100 {
		t.Fatalf("position %+v", p)
	}
	if st := l.StoreStats(); st.Events != 6 || st.Bytes != 6*165 || st.RetentionLag != 0 {
		t.Fatalf("stats %+v", st)
	}
	if got := readIDs(t, l); len(got) != 6 {
		t.Fatalf("read %v", got)
	}
	l.Close()
	l = open(t, dir, o)
	defer l.Close()
	l.Append(bg, []*ssehub.Event{{Topic: "r", Data: make([]byte, 300), Meta: []byte(`{"m":1}`), Type: "t", Entity: "e", Source: "s"}})
	// 64 + 1 + 300 + 7 + 3 = 375: 990 + 375 - 3*165 = 870, 4 events.
	if p := pos(t, l); p.First != 98 || p.Head != 101 {
		t.Fatalf("position after reopen %+v", p)
	}
	if st := l.StoreStats(); st.Events != 4 || st.Bytes != 3*165+375 {
		t.Fatalf("stats after reopen %+v", st)
	}
	// A batch that could never be retained is refused, alone.
	if _, err := l.Append(bg, []*ssehub.Event{{Topic: "r", Data: make([]byte, 1000)}}); !errors.Is(err, ssehub.ErrTooLarge) {
		t.Fatalf("an event past max_bytes: %v", err)
	}
}

// TestRetentionKeepsUp: 8 goroutines append 16,000 events as fast as they
// can (16 × the count bound); the count bound (and, in the second case,
// the byte bound) holds after every Append, and StoreStats reports no lag.
func TestRetentionKeepsUp(t *testing.T) {
	for _, r := range []ssehub.Retention{{MaxEvents: 1000}, {MaxBytes: 64 << 10}} {
		t.Run(fmt.Sprint(r.MaxEvents, "-", r.MaxBytes), func(t *testing.T) {
			l := open(t, t.TempDir(), small(pebble.Options{NoSync: true, Retention: r}))
			defer l.Close()
			var wg sync.WaitGroup
			var mu sync.Mutex
			total := 0
			for g := 0; g < 8; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					evs := make([]*ssehub.Event, 50)
					for range 40 { // a count, not a deadline: the same load under -race on a busy machine
						for i := range evs {
							evs[i] = &ssehub.Event{Topic: fmt.Sprint("t.", i%5), Data: make([]byte, 20+i)}
						}
						if _, err := l.Append(bg, evs); err != nil {
							t.Error(err)
							return
						}
						st := l.StoreStats()
						mu.Lock()
						total += len(evs)
						if r.MaxEvents > 0 && st.Events > r.MaxEvents || r.MaxBytes > 0 && st.Bytes > r.MaxBytes || st.RetentionLag != 0 {
							t.Errorf("bound exceeded after an Append: %+v", st)
						}
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if total != 8*40*50 {
				t.Fatalf("%d events appended", total)
			}
			got := readIDs(t, l)
			if r.MaxEvents > 0 && int64(len(got)) != r.MaxEvents {
				t.Fatalf("%d events retained, want %d", len(got), r.MaxEvents)
			}
			// The topic counts add up to what is retained.
			infos, err := l.Topics(bg, "", 0)
			if err != nil {
				t.Fatal(err)
			}
			var sum int64
			for _, ti := range infos {
				sum += ti.Events
			}
			if sum != int64(len(got)) || sum != l.StoreStats().Events {
				t.Fatalf("topics count %d events, the log %d, stats %+v", sum, len(got), l.StoreStats())
			}
		})
	}
}

// TestRetentionLowered: a log far over a bound lowered at a restart
// reports the lag, and catches up in bounded steps.
func TestRetentionLowered(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, small(pebble.Options{NoSync: true}))
	for i := 0; i < 5; i++ {
		appendN(t, l, "x", 2000, "")
	}
	l.Close()
	l = open(t, dir, small(pebble.Options{NoSync: true, Retention: ssehub.Retention{MaxEvents: 100}}))
	defer l.Close()
	if st := l.StoreStats(); st.Events != 10_000 || st.RetentionLag != 9900 {
		t.Fatalf("stats before catching up: %+v", st)
	}
	appendN(t, l, "x", 1, "") // removes at most 2,000 + 1
	if st := l.StoreStats(); st.Events < 7999 || st.Events > 9000 || st.RetentionLag != st.Events-100 {
		t.Fatalf("after one commit: %+v", st)
	}
	waitBounds(t, l, 9902, 10_001)
	if st := l.StoreStats(); st.RetentionLag != 0 || st.Events != 100 {
		t.Fatalf("after catching up: %+v", st)
	}
}

func TestRetentionByAge(t *testing.T) {
	l := open(t, t.TempDir(), small(pebble.Options{NoSync: true, Retention: ssehub.Retention{MaxAge: 300 * time.Millisecond}}))
	defer l.Close()
	appendN(t, l, "a", 3, "")
	appendN(t, l, "b", 2, "")
	if st := l.StoreStats(); st.RetentionLag != 0 {
		t.Fatalf("lag of fresh events: %+v", st)
	}
	time.Sleep(350 * time.Millisecond)
	if st := l.StoreStats(); st.Events == 5 && st.RetentionLag != 5 {
		t.Fatalf("stats before the janitor: %+v, want a lag of 5", st)
	}
	waitBounds(t, l, 6, 5)
	if st := l.StoreStats(); st.RetentionLag != 0 || st.Events != 0 || st.Bytes != 0 {
		t.Fatalf("stats after the janitor: %+v", st)
	}
	if infos, _ := l.Topics(bg, "", 0); len(infos) != 0 {
		t.Fatalf("topics after age retention: %v", infos)
	}
	if got := readIDs(t, l); len(got) != 0 {
		t.Fatalf("read %v", got)
	}
	if r := appendN(t, l, "a", 1, ""); r[0].ID != 6 {
		t.Fatalf("next id %d", r[0].ID)
	}
}

// TestDedupeWindowExpires: after the window a key stores a new event.
func TestDedupeWindowExpires(t *testing.T) {
	l := open(t, t.TempDir(), small(pebble.Options{NoSync: true, DedupeWindow: 50 * time.Millisecond}))
	defer l.Close()
	r1 := appendN(t, l, "d", 1, "k")
	if r2 := appendN(t, l, "d", 1, "k"); !r2[0].Duplicate || r2[0].ID != r1[0].ID {
		t.Fatalf("inside the window: %+v", r2)
	}
	time.Sleep(100 * time.Millisecond)
	if r3 := appendN(t, l, "d", 1, "k"); r3[0].Duplicate || r3[0].ID != 2 {
		t.Fatalf("after the window: %+v", r3)
	}
}

// TestCloseStopsGoroutines: the writer, the janitor and pebble's own
// goroutines end with Close.
func TestCloseStopsGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	for i := 0; i < 5; i++ {
		l := open(t, t.TempDir(), small(pebble.Options{NoSync: true}))
		appendN(t, l, "g", 1, "")
		l.Close()
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines before, %d after closing", before, runtime.NumGoroutine())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReadDuringClose: reads racing Close end with ErrClosed or their own
// result, never a panic (pebble panics on a closed DB).
func TestReadDuringClose(t *testing.T) {
	for round := 0; round < 5; round++ {
		l := open(t, t.TempDir(), small(pebble.Options{NoSync: true}))
		appendN(t, l, "r", 5000, "")
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 50; i++ {
					err := l.Read(bg, 0, ssehub.MustFilter("r"), func(*ssehub.Event) error { return nil })
					if _, err2 := l.Topics(bg, "", 0); err == nil {
						err = err2
					}
					if _, err2 := l.Last(bg, "r"); err == nil {
						err = err2
					}
					if _, err2 := l.Get(bg, "b", "k"); err == nil || errors.Is(err2, ssehub.ErrClosed) {
						err = err2
					}
					if err != nil && !errors.Is(err, ssehub.ErrClosed) && !errors.Is(err, ssehub.ErrNotFound) {
						t.Error(err)
						return
					}
				}
			}()
		}
		time.Sleep(time.Duration(round) * time.Millisecond)
		l.Close()
		wg.Wait()
	}
}

// TestFollowFromStore: a follower far behind the in-memory ring reads
// from the store, with every id once.
func TestFollowFromStore(t *testing.T) {
	l := open(t, t.TempDir(), small(pebble.Options{NoSync: true}))
	defer l.Close()
	for i := 0; i < 4; i++ {
		appendN(t, l, "f", 5000, "")
	}
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	var last uint64
	stop := errors.New("stop")
	err := l.Follow(ctx, 0, func(e *ssehub.Event) error {
		if e.ID != last+1 {
			return fmt.Errorf("id %d after %d", e.ID, last)
		}
		last = e.ID
		if last == 20_000 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatal(err)
	}
}

// TestSparseReadSkipsRemoved: a sparse topic read through the index after
// retention removed most of the log returns exactly the retained events.
func TestSparseReadSkipsRemoved(t *testing.T) {
	l := open(t, t.TempDir(), small(pebble.Options{NoSync: true, Retention: ssehub.Retention{MaxEvents: 5000}}))
	defer l.Close()
	for i := 0; i < 20; i++ {
		evs := make([]*ssehub.Event, 1000)
		for j := range evs {
			topic := "dense"
			if j%100 == 0 {
				topic = "sparse"
			}
			evs[j] = &ssehub.Event{Topic: topic, Data: []byte(fmt.Sprint(i*1000 + j + 1))}
		}
		if _, err := l.Append(bg, evs); err != nil {
			t.Fatal(err)
		}
	}
	var got []uint64
	if err := l.Read(bg, 0, ssehub.MustFilter("sparse"), func(e *ssehub.Event) error {
		if string(e.Data) != fmt.Sprint(e.ID) {
			return fmt.Errorf("event %d holds %q", e.ID, e.Data)
		}
		got = append(got, e.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 50 || got[0] != 15001 || got[49] != 19901 {
		t.Fatalf("sparse read after retention: %d events, %v…", len(got), got[:min(3, len(got))])
	}
	if ti, err := l.Topic(bg, "sparse"); err != nil || ti.Events != 50 || ti.LastID != 19901 {
		t.Fatalf("topic: %+v %v", ti, err)
	}
}

func TestDriver(t *testing.T) {
	d, ok := ssehub.LookupDriver("pebble")
	if !ok {
		t.Fatal("the pebble driver is not registered")
	}
	if err := d.Validate(ssehub.StoreConfig{}); err == nil || !strings.Contains(err.Error(), "storage.path") {
		t.Fatalf("validate without a path: %v", err)
	}
	bad := func(v any) error {
		v.(*pebble.Settings).MaxBatch = -1
		return nil
	}
	if err := d.Validate(ssehub.StoreConfig{Path: "x", Settings: bad}); err == nil || !strings.Contains(err.Error(), "storage.pebble.max_batch") {
		t.Fatalf("validate a negative max_batch: %v", err)
	}
	dir := t.TempDir()
	s, err := ssehub.OpenStore(bg, "pebble", ssehub.StoreConfig{Path: dir, Retention: ssehub.Retention{MaxEvents: 7}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if c := s.Capabilities(); c.MaxBatch != 7 {
		t.Fatalf("capabilities through the driver: %+v", c)
	}
	if got := d.Describe(ssehub.StoreConfig{Path: dir}); !strings.Contains(got, dir) {
		t.Fatalf("describe: %q", got)
	}
}

// TestDriverRefusesBoltDir: the driver does not start an empty log in a
// data directory that holds a bolt store.
func TestDriverRefusesBoltDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ssehub.db"), []byte("bolt"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := ssehub.OpenStore(bg, "pebble", ssehub.StoreConfig{Path: dir})
	if err == nil || !strings.Contains(err.Error(), "holds a bolt store") || !strings.Contains(err.Error(), "--store bolt") {
		t.Fatalf("open of a bolt data directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, pebble.DirName)); !os.IsNotExist(err) {
		t.Fatalf("a pebble directory was created: %v", err)
	}
}
