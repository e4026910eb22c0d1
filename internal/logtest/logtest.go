// Package logtest is the conformance suite every ssehub.Log implementation
// runs: the memory and bolt stores today, a NATS JetStream store later.
package logtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
)

// Run runs the conformance tests; open returns a new, empty log that the
// test closes itself.
func Run(t *testing.T, open func(t *testing.T) ssehub.Log) {
	tests := map[string]func(*testing.T, ssehub.Log){
		"IDs":              testIDs,
		"ConcurrentAppend": testConcurrentAppend,
		"ReadFilter":       testReadFilter,
		"ReadStopsAtHead":  testReadStopsAtHead,
		"Follow":           testFollow,
		"Dedupe":           testDedupe,
		"Topics":           testTopics,
		"KV":               testKV,
		"Close":            testClose,
		"AppendSetsFields": testAppendSetsFields,
		"ReadPatterns":     testReadPatterns,
		"ReadCancel":       testReadCancel,
		"FollowConcurrent": testFollowConcurrent,
		"FollowFromMiddle": testFollowFromMiddle,
		"FollowStopsOnFn":  testFollowStopsOnFn,
	}
	for name, fn := range tests {
		t.Run(name, func(t *testing.T) {
			l := open(t)
			defer l.Close()
			fn(t, l)
		})
	}
}

func ev(topic, data string) *ssehub.Event {
	return &ssehub.Event{Topic: topic, Data: []byte(data)}
}

func appendOK(t *testing.T, l ssehub.Log, evs ...*ssehub.Event) []ssehub.AppendResult {
	t.Helper()
	res, err := l.Append(context.Background(), evs)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(evs) {
		t.Fatalf("%d results for %d events", len(res), len(evs))
	}
	return res
}

// readAll returns the events after `after` that m matches, copied.
func readAll(t *testing.T, l ssehub.Log, after uint64, m ssehub.Matcher) []ssehub.Event {
	t.Helper()
	var out []ssehub.Event
	err := l.Read(context.Background(), after, m, func(e *ssehub.Event) error {
		c := *e
		c.Data = append([]byte(nil), e.Data...)
		out = append(out, c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func testIDs(t *testing.T, l ssehub.Log) {
	if first, head := l.Bounds(); head != 0 || first != 1 {
		t.Fatalf("empty log bounds %d, %d", first, head)
	}
	e1 := &ssehub.Event{Topic: "a.b", Type: "t", Key: "", Entity: "e", Source: "s", Meta: []byte(`{"m":1}`), Data: []byte("one")}
	res := appendOK(t, l, e1)
	if res[0].ID != 1 || e1.ID != 1 || e1.Time.IsZero() {
		t.Fatalf("first append: %+v, event id %d time %v", res, e1.ID, e1.Time)
	}
	res = appendOK(t, l, ev("a.b", "2"), ev("c", "3"), ev("a.b", "4"))
	for i, r := range res {
		if r.ID != uint64(2+i) || r.Duplicate {
			t.Fatalf("batch result %d: %+v", i, r)
		}
	}
	if first, head := l.Bounds(); first != 1 || head != 4 {
		t.Fatalf("bounds %d, %d", first, head)
	}
	got := readAll(t, l, 0, nil)
	if len(got) != 4 || string(got[0].Data) != "one" || got[0].Type != "t" || got[0].Entity != "e" || got[0].Source != "s" ||
		string(got[0].Meta) != `{"m":1}` || got[0].Time.IsZero() || string(got[3].Data) != "4" {
		t.Fatalf("read back: %+v", got)
	}
	if got := readAll(t, l, 2, nil); len(got) != 2 || got[0].ID != 3 {
		t.Fatalf("read from the middle: %+v", got)
	}
}

func testConcurrentAppend(t *testing.T, l ssehub.Log) {
	const goroutines, each = 16, 50
	var wg sync.WaitGroup
	ids := make(chan uint64, goroutines*each)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				res, err := l.Append(context.Background(), []*ssehub.Event{ev("c", fmt.Sprintf("%d-%d", g, i))})
				if err != nil {
					t.Error(err)
					return
				}
				ids <- res[0].ID
			}
		}(g)
	}
	wg.Wait()
	close(ids)
	seen := map[uint64]bool{}
	for id := range ids {
		if seen[id] {
			t.Fatalf("id %d given twice", id)
		}
		seen[id] = true
	}
	got := readAll(t, l, 0, nil)
	if len(got) != goroutines*each {
		t.Fatalf("read %d events", len(got))
	}
	for i, e := range got {
		if e.ID != uint64(i+1) || !seen[e.ID] {
			t.Fatalf("event %d has id %d", i, e.ID)
		}
	}
}

func testReadFilter(t *testing.T, l ssehub.Log) {
	appendOK(t, l, ev("orders.new", "1"), ev("users.new", "2"), ev("orders.paid", "3"), ev("orders", "4"))
	ps, _ := ssehub.ParsePatterns("orders.*")
	got := readAll(t, l, 0, ps)
	if len(got) != 2 || got[0].ID != 1 || got[1].ID != 3 {
		t.Fatalf("filtered read: %+v", got)
	}
	stop := errors.New("stop")
	n := 0
	err := l.Read(context.Background(), 0, nil, func(*ssehub.Event) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("fn error: %v after %d", err, n)
	}
}

func testReadStopsAtHead(t *testing.T, l ssehub.Log) {
	appendOK(t, l, ev("a", "1"), ev("a", "2"))
	n := 0
	err := l.Read(context.Background(), 0, nil, func(*ssehub.Event) error {
		n++
		if n == 1 {
			if _, err := l.Append(context.Background(), []*ssehub.Event{ev("a", "late")}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || n != 2 {
		t.Fatalf("read %d events (%v), want the 2 that existed at the start", n, err)
	}
}

func testFollow(t *testing.T, l ssehub.Log) {
	appendOK(t, l, ev("f", "1"), ev("f", "2"))
	ctx, cancel := context.WithCancel(context.Background())
	const total = 300
	got := make(chan uint64, total+10)
	done := make(chan error, 1)
	go func() {
		done <- l.Follow(ctx, 0, func(e *ssehub.Event) error { got <- e.ID; return nil })
	}()
	for i := 2; i < total; i++ {
		appendOK(t, l, ev("f", fmt.Sprint(i)))
	}
	for want := uint64(1); want <= total; want++ {
		select {
		case id := <-got:
			if id != want {
				t.Fatalf("follow gave id %d, want %d", id, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("follow stalled before id %d", want)
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("follow did not stop on cancel")
	}
}

func testDedupe(t *testing.T, l ssehub.Log) {
	a := &ssehub.Event{Topic: "d", Key: "k1", Data: []byte("first")}
	r1 := appendOK(t, l, a)
	r2 := appendOK(t, l, &ssehub.Event{Topic: "d", Key: "k1", Data: []byte("again")}, &ssehub.Event{Topic: "other", Key: "k1"},
		&ssehub.Event{Topic: "d", Key: "k2"}, &ssehub.Event{Topic: "d", Key: "k2"})
	if !r2[0].Duplicate || r2[0].ID != r1[0].ID {
		t.Fatalf("duplicate: %+v", r2[0])
	}
	if r2[1].Duplicate || r2[2].Duplicate || !r2[3].Duplicate || r2[3].ID != r2[2].ID {
		t.Fatalf("batch: %+v", r2)
	}
	if got := readAll(t, l, 0, nil); len(got) != 3 || string(got[0].Data) != "first" {
		t.Fatalf("stored %d events: %+v", len(got), got)
	}
}

func testTopics(t *testing.T, l ssehub.Log) {
	tl, ok := l.(ssehub.Topics)
	if !ok {
		t.Skip("no topic statistics")
	}
	appendOK(t, l, ev("x", "1"), ev("y", "2"), ev("x", "3"))
	infos, err := tl.Topics(context.Background())
	if err != nil || len(infos) != 2 || infos[0] != (ssehub.TopicInfo{Topic: "x", Events: 2, LastID: 3}) || infos[1] != (ssehub.TopicInfo{Topic: "y", Events: 1, LastID: 2}) {
		t.Fatalf("topics: %+v %v", infos, err)
	}
}

func testKV(t *testing.T, l ssehub.Log) {
	kv, ok := l.(ssehub.KV)
	if !ok {
		t.Skip("no KV")
	}
	ctx := context.Background()
	if _, err := kv.Get(ctx, "b", "k"); !errors.Is(err, ssehub.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	for _, k := range []string{"k2", "k1", "k3"} {
		if err := kv.Put(ctx, "b", k, []byte("v"+k)); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := kv.Get(ctx, "b", "k1"); err != nil || string(v) != "vk1" {
		t.Fatalf("get: %q %v", v, err)
	}
	if err := kv.Delete(ctx, "b", "k3"); err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(ctx, "b", "nope"); err != nil {
		t.Fatal(err)
	}
	var keys []string
	if err := kv.List(ctx, "b", func(k string, _ []byte) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(keys) != "[k1 k2]" {
		t.Fatalf("list: %v", keys)
	}
}

// testClose: Append after Close fails with ErrClosed, a waiting Follow
// returns, and a second Close is harmless.
func testClose(t *testing.T, l ssehub.Log) {
	appendOK(t, l, ev("z", "1"))
	follow := make(chan error, 1)
	go func() {
		follow <- l.Follow(context.Background(), 1, func(*ssehub.Event) error { return nil })
	}()
	time.Sleep(20 * time.Millisecond) // let Follow wait for events
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(context.Background(), []*ssehub.Event{ev("z", "2")}); !errors.Is(err, ssehub.ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	select {
	case err := <-follow:
		if err == nil {
			t.Fatal("follow returned nil after close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follow kept waiting after close")
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, head := l.Bounds(); head != 1 {
		t.Fatalf("head after close %d", head)
	}
}

// testAppendSetsFields: every stored event of a batch gets its id and the
// commit time; ids keep increasing from one append to the next.
func testAppendSetsFields(t *testing.T, l ssehub.Log) {
	before := time.Now().Add(-time.Second)
	var last uint64
	for round := 0; round < 3; round++ {
		evs := []*ssehub.Event{ev("s", "1"), ev("s", "2"), ev("t", "3")}
		res := appendOK(t, l, evs...)
		for i, e := range evs {
			if e.ID != res[i].ID || e.ID != last+1 {
				t.Fatalf("round %d event %d: id %d, result %d, previous %d", round, i, e.ID, res[i].ID, last)
			}
			if e.Time.Before(before) || e.Time.After(time.Now().Add(time.Second)) {
				t.Fatalf("event %d time %v", e.ID, e.Time)
			}
			last = e.ID
		}
	}
	if first, head := l.Bounds(); first != 1 || head != last {
		t.Fatalf("bounds %d, %d after %d events", first, head, last)
	}
}

// testReadPatterns: exact, prefix and union matchers, from the middle.
func testReadPatterns(t *testing.T, l ssehub.Log) {
	topics := []string{"a", "a.x", "b", "a.y", "b.z", "c", "a"}
	for _, tp := range topics {
		appendOK(t, l, ev(tp, tp))
	}
	ids := func(got []ssehub.Event) string {
		s := ""
		for _, e := range got {
			s += fmt.Sprint(e.ID, " ")
		}
		return s
	}
	if got := ids(readAll(t, l, 0, ssehub.MustPattern("a"))); got != "1 7 " {
		t.Fatalf("exact a: %s", got)
	}
	if got := ids(readAll(t, l, 0, ssehub.MustPattern("a.*"))); got != "2 4 " {
		t.Fatalf("a.*: %s", got)
	}
	if got := ids(readAll(t, l, 0, ssehub.MustPattern("*"))); got != "1 2 3 4 5 6 7 " {
		t.Fatalf("*: %s", got)
	}
	ps, err := ssehub.ParsePatterns("b.*", "c", "a")
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(readAll(t, l, 3, ps)); got != "5 6 7 " {
		t.Fatalf("union after 3: %s", got)
	}
	if got := readAll(t, l, 7, nil); len(got) != 0 {
		t.Fatalf("read after the head: %d events", len(got))
	}
	if got := readAll(t, l, 100, nil); len(got) != 0 {
		t.Fatalf("read past the head: %d events", len(got))
	}
}

// testReadCancel: a canceled context ends a Read with the context's error.
func testReadCancel(t *testing.T, l ssehub.Log) {
	evs := make([]*ssehub.Event, 100)
	for i := range evs {
		evs[i] = ev("r", fmt.Sprint(i))
	}
	appendOK(t, l, evs...)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	err := l.Read(ctx, 0, nil, func(*ssehub.Event) error {
		n++
		if n == 1 {
			cancel()
		}
		return ctx.Err()
	})
	if !errors.Is(err, context.Canceled) || n != 1 {
		t.Fatalf("read after cancel: %v after %d events", err, n)
	}
	if err := l.Read(ctx, 0, nil, func(*ssehub.Event) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("read with a canceled context: %v", err)
	}
}

// testFollowConcurrent: a follower from 0 sees every id exactly once and
// in order while 8 goroutines append single events and small batches.
func testFollowConcurrent(t *testing.T, l ssehub.Log) {
	const goroutines, each = 8, 60
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan *ssehub.Event, goroutines*each*2)
	done := make(chan error, 1)
	go func() {
		done <- l.Follow(ctx, 0, func(e *ssehub.Event) error {
			c := *e
			c.Data = append([]byte(nil), e.Data...)
			got <- &c
			return nil
		})
	}()
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < each; {
				n := 1 + i%3
				if i+n > each {
					n = each - i
				}
				evs := make([]*ssehub.Event, n)
				for j := range evs {
					evs[j] = ev("f", fmt.Sprintf("%d-%d", g, i+j))
				}
				if _, err := l.Append(context.Background(), evs); err != nil {
					t.Error(err)
					return
				}
				i += n
			}
		}(g)
	}
	wg.Wait()
	seen := map[string]bool{}
	for want := uint64(1); want <= goroutines*each; want++ {
		select {
		case e := <-got:
			if e.ID != want {
				t.Fatalf("follow gave id %d, want %d", e.ID, want)
			}
			if seen[string(e.Data)] {
				t.Fatalf("event %q delivered twice", e.Data)
			}
			seen[string(e.Data)] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("follow stalled before id %d", want)
		}
	}
	select {
	case e := <-got:
		t.Fatalf("extra event %d", e.ID)
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("follow ended with %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follow did not stop on cancel")
	}
}

// testFollowFromMiddle: Follow after an id starts with the next one.
func testFollowFromMiddle(t *testing.T, l ssehub.Log) {
	for i := 0; i < 10; i++ {
		appendOK(t, l, ev("m", fmt.Sprint(i)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var ids []uint64
	stop := errors.New("enough")
	err := l.Follow(ctx, 6, func(e *ssehub.Event) error {
		ids = append(ids, e.ID)
		if e.ID == 10 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || fmt.Sprint(ids) != "[7 8 9 10]" {
		t.Fatalf("follow after 6: %v, %v", ids, err)
	}
}

// testFollowStopsOnFn: fn's error ends Follow and is returned, also while
// it waits for new events.
func testFollowStopsOnFn(t *testing.T, l ssehub.Log) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stop := errors.New("stop")
	done := make(chan error, 1)
	go func() { done <- l.Follow(ctx, 0, func(*ssehub.Event) error { return stop }) }()
	time.Sleep(20 * time.Millisecond) // let it wait on an empty log
	appendOK(t, l, ev("w", "1"))
	select {
	case err := <-done:
		if !errors.Is(err, stop) {
			t.Fatalf("follow returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follow did not return fn's error")
	}
}
