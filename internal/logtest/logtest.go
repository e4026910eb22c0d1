// Package logtest is the conformance suite every ssehub.Store runs: the
// memory and bolt stores today, a NATS JetStream store later. It checks
// only what the root package's doc comments promise, through the Store
// interface, so any store can run it unchanged.
package logtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
)

// Config describes the store under test.
type Config struct {
	// Open returns a new, empty store. The suite closes it.
	Open func(t *testing.T) ssehub.Store
	// OpenRetention, when set, returns a new, empty store that applies r.
	// The retention tests are skipped without it. The suite only uses
	// MaxEvents, which every store counts the same way.
	OpenRetention func(t *testing.T, r ssehub.Retention) ssehub.Store
	// Reopen, when set, closes s and opens the same log again, as a restart
	// would. The persistence tests (epoch, ids, events, KV) are skipped
	// without it.
	Reopen func(t *testing.T, s ssehub.Store) ssehub.Store
}

// Run runs the conformance tests.
func Run(t *testing.T, c Config) {
	if c.Open == nil {
		t.Fatal("logtest: Config.Open is required")
	}
	tests := map[string]func(*testing.T, Config){
		"IDs":                 each(testIDs),
		"Position":            testPosition,
		"ConcurrentAppend":    each(testConcurrentAppend),
		"AppendSetsFields":    each(testAppendSetsFields),
		"AppendCopiesInput":   each(testAppendCopiesInput),
		"MaxBatch":            each(testMaxBatch),
		"ReadFilter":          each(testReadFilter),
		"ReadPatterns":        each(testReadPatterns),
		"ReadEmptyFilter":     each(testReadEmptyFilter),
		"ReadSparse":          each(testReadSparse),
		"ReadStopsAtHead":     each(testReadStopsAtHead),
		"ReadCancel":          each(testReadCancel),
		"Sys":                 each(testSys),
		"Follow":              each(testFollow),
		"FollowConcurrent":    each(testFollowConcurrent),
		"FollowFromMiddle":    each(testFollowFromMiddle),
		"FollowStopsOnFn":     each(testFollowStopsOnFn),
		"FollowOwnership":     testFollowOwnership,
		"Dedupe":              each(testDedupe),
		"Topics":              each(testTopics),
		"TopicsPaging":        each(testTopicsPaging),
		"Last":                each(testLast),
		"KV":                  each(testKV),
		"Close":               each(testClose),
		"Retention":           testRetention,
		"RetentionFollow":     testRetentionFollow,
		"Reopen":              testReopen,
		"ReopenAfterEmptying": testReopenAfterEmptying,
	}
	names := make([]string, 0, len(tests))
	for n := range tests {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) { tests[name](t, c) })
	}
}

// each adapts a test of one fresh store.
func each(fn func(*testing.T, ssehub.Store)) func(*testing.T, Config) {
	return func(t *testing.T, c Config) {
		s := c.Open(t)
		defer s.Close()
		fn(t, s)
	}
}

var bg = context.Background()

func ev(topic, data string) *ssehub.Event {
	return &ssehub.Event{Topic: topic, Data: []byte(data)}
}

func appendOK(t *testing.T, l ssehub.Log, evs ...*ssehub.Event) []ssehub.AppendResult {
	t.Helper()
	res, err := l.Append(bg, evs)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(evs) {
		t.Fatalf("%d results for %d events", len(res), len(evs))
	}
	return res
}

func bounds(t *testing.T, l ssehub.Log) ssehub.Position {
	t.Helper()
	p, err := l.Bounds(bg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// clone returns a deep copy of e.
func clone(e *ssehub.Event) ssehub.Event {
	c := *e
	if e.Data != nil {
		c.Data = append([]byte(nil), e.Data...)
	}
	if e.Meta != nil {
		c.Meta = append([]byte(nil), e.Meta...)
	}
	return c
}

// readAll returns the events after `after` that f matches, copied.
func readAll(t *testing.T, l ssehub.Log, after uint64, f ssehub.Filter) []ssehub.Event {
	t.Helper()
	var out []ssehub.Event
	if err := l.Read(bg, after, f, func(e *ssehub.Event) error { out = append(out, clone(e)); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func idsOf(evs []ssehub.Event) string {
	var b bytes.Buffer
	for i, e := range evs {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprint(&b, e.ID)
	}
	return b.String()
}

func isAlnum(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}

func testIDs(t *testing.T, l ssehub.Store) {
	if p := bounds(t, l); p.Head != 0 || p.First != 1 {
		t.Fatalf("empty log position %+v, want First 1, Head 0", p)
	}
	e1 := &ssehub.Event{Topic: "a.b", Type: "t", Entity: "e", Source: "s", Meta: []byte(`{"m":1}`), Data: []byte("one")}
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
	if p := bounds(t, l); p.First != 1 || p.Head != 4 {
		t.Fatalf("position %+v, want First 1, Head 4", p)
	}
	got := readAll(t, l, 0, ssehub.All())
	if len(got) != 4 || string(got[0].Data) != "one" || got[0].Type != "t" || got[0].Entity != "e" || got[0].Source != "s" ||
		string(got[0].Meta) != `{"m":1}` || !got[0].Time.Equal(e1.Time) || string(got[3].Data) != "4" {
		t.Fatalf("read back: %+v", got)
	}
	if got := readAll(t, l, 2, ssehub.All()); idsOf(got) != "3 4" {
		t.Fatalf("read from the middle: %s", idsOf(got))
	}
	if c := l.Capabilities(); c.DenseIDs {
		for i, e := range got {
			if e.ID != uint64(1+i) {
				t.Fatalf("DenseIDs, yet event %d has id %d", i+1, e.ID)
			}
		}
	}
}

// testPosition: the epoch is a short alphanumeric string, stable while the
// log lives, and differs between two new logs.
func testPosition(t *testing.T, c Config) {
	a, b := c.Open(t), c.Open(t)
	defer a.Close()
	defer b.Close()
	pa, pb := bounds(t, a), bounds(t, b)
	if !isAlnum(pa.Epoch) || len(pa.Epoch) > 32 {
		t.Fatalf("epoch %q is not a short string of letters and digits", pa.Epoch)
	}
	if pa.Epoch == pb.Epoch {
		t.Fatalf("two new logs share the epoch %q", pa.Epoch)
	}
	appendOK(t, a, ev("p", "1"), ev("p", "2"))
	if p := bounds(t, a); p.Epoch != pa.Epoch || p.Head != 2 || p.First != 1 {
		t.Fatalf("position after appends %+v, epoch was %q", p, pa.Epoch)
	}
}

func testConcurrentAppend(t *testing.T, l ssehub.Store) {
	const goroutines, each = 16, 50
	var wg sync.WaitGroup
	ids := make(chan uint64, goroutines*each)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				res, err := l.Append(bg, []*ssehub.Event{ev("c", fmt.Sprintf("%d-%d", g, i))})
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
	got := readAll(t, l, 0, ssehub.All())
	if len(got) != goroutines*each {
		t.Fatalf("read %d events", len(got))
	}
	for i, e := range got {
		if i > 0 && e.ID <= got[i-1].ID || !seen[e.ID] {
			t.Fatalf("event %d has id %d", i, e.ID)
		}
	}
}

// testAppendSetsFields: every stored event of a batch gets its id and the
// commit time; ids keep increasing from one append to the next.
func testAppendSetsFields(t *testing.T, l ssehub.Store) {
	before := time.Now().Add(-time.Second)
	var last uint64
	for round := 0; round < 3; round++ {
		evs := []*ssehub.Event{ev("s", "1"), ev("s", "2"), ev("t", "3")}
		res := appendOK(t, l, evs...)
		for i, e := range evs {
			if e.ID != res[i].ID || e.ID <= last {
				t.Fatalf("round %d event %d: id %d, result %d, previous %d", round, i, e.ID, res[i].ID, last)
			}
			if e.Time.Before(before) || e.Time.After(time.Now().Add(time.Second)) {
				t.Fatalf("event %d time %v", e.ID, e.Time)
			}
			last = e.ID
		}
	}
	if p := bounds(t, l); p.First != 1 || p.Head != last {
		t.Fatalf("position %+v after %d events", p, last)
	}
}

// testAppendCopiesInput: the caller may reuse its buffers once Append
// returns.
func testAppendCopiesInput(t *testing.T, l ssehub.Store) {
	data, meta := []byte("original"), []byte(`{"k":"v"}`)
	e := &ssehub.Event{Topic: "cp", Data: data, Meta: meta}
	appendOK(t, l, e)
	copy(data, "XXXXXXXX")
	copy(meta, `{"k":"X"}`)
	got := readAll(t, l, 0, ssehub.All())
	if len(got) != 1 || string(got[0].Data) != "original" || string(got[0].Meta) != `{"k":"v"}` {
		t.Fatalf("stored event changed with the caller's buffers: %+v", got)
	}
}

// testMaxBatch: Capabilities().MaxBatch is enforced with ErrTooLarge and
// the refused batch stores nothing; a batch of exactly MaxBatch is taken.
func testMaxBatch(t *testing.T, l ssehub.Store) {
	c := l.Capabilities()
	if c.MaxBatch <= 0 {
		t.Fatalf("MaxBatch %d", c.MaxBatch)
	}
	if c.MaxBatch > 200_000 {
		t.Skipf("MaxBatch %d is too large to test", c.MaxBatch)
	}
	batch := func(n int) []*ssehub.Event {
		evs := make([]*ssehub.Event, n)
		for i := range evs {
			evs[i] = ev("mb", "x")
		}
		return evs
	}
	if _, err := l.Append(bg, batch(c.MaxBatch+1)); !errors.Is(err, ssehub.ErrTooLarge) {
		t.Fatalf("a batch of MaxBatch+1 = %d events: %v, want ErrTooLarge", c.MaxBatch+1, err)
	}
	if p := bounds(t, l); p.Head != 0 {
		t.Fatalf("a refused batch stored events: %+v", p)
	}
	res := appendOK(t, l, batch(c.MaxBatch)...)
	if res[len(res)-1].ID != uint64(c.MaxBatch) && c.DenseIDs {
		t.Fatalf("last id of a full batch %d", res[len(res)-1].ID)
	}
}

func testReadFilter(t *testing.T, l ssehub.Store) {
	appendOK(t, l, ev("orders.new", "1"), ev("users.new", "2"), ev("orders.paid", "3"), ev("orders", "4"))
	if got := readAll(t, l, 0, ssehub.MustFilter("orders.*")); idsOf(got) != "1 3" {
		t.Fatalf("orders.*: %s", idsOf(got))
	}
	stop := errors.New("stop")
	n := 0
	err := l.Read(bg, 0, ssehub.All(), func(*ssehub.Event) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("fn error: %v after %d", err, n)
	}
}

// testReadPatterns: exact, prefix, union and All, from the middle.
func testReadPatterns(t *testing.T, l ssehub.Store) {
	for _, tp := range []string{"a", "a.x", "b", "a.y", "b.z", "c", "a", "a.x.deep", "ab.x"} {
		appendOK(t, l, ev(tp, tp))
	}
	cases := []struct {
		after uint64
		f     ssehub.Filter
		want  string
	}{
		{0, ssehub.MustFilter("a"), "1 7"},
		{0, ssehub.MustFilter("a.*"), "2 4 8"},
		{0, ssehub.MustFilter("a.x.*"), "8"},
		{0, ssehub.MustFilter("a.x"), "2"},
		{0, ssehub.All(), "1 2 3 4 5 6 7 8 9"},
		{0, ssehub.MustFilter("*"), "1 2 3 4 5 6 7 8 9"},
		{3, ssehub.MustFilter("b.*", "c", "a"), "5 6 7"},
		{0, ssehub.MustFilter("a", "b"), "1 3 7"},
		{0, ssehub.MustFilter("ab.*", "a.y"), "4 9"},
		{0, ssehub.MustFilter("nope", "nope.*"), ""},
		{7, ssehub.MustFilter("a"), ""},
		{9, ssehub.All(), ""},
		{100, ssehub.All(), ""},
	}
	for _, c := range cases {
		if got := idsOf(readAll(t, l, c.after, c.f)); got != c.want {
			t.Errorf("Read(after %d, %s) = [%s], want [%s]", c.after, c.f, got, c.want)
		}
	}
}

// testReadEmptyFilter: the empty and the zero Filter read nothing.
func testReadEmptyFilter(t *testing.T, l ssehub.Store) {
	appendOK(t, l, ev("a", "1"), ev("b", "2"))
	for _, f := range []ssehub.Filter{{}, ssehub.MustFilter()} {
		n := 0
		if err := l.Read(bg, 0, f, func(*ssehub.Event) error { n++; return nil }); err != nil || n != 0 {
			t.Fatalf("empty filter read %d events (%v)", n, err)
		}
	}
}

// testReadSparse: a topic with few events among many of others reads
// exactly its events, in order, across many read chunks.
func testReadSparse(t *testing.T, l ssehub.Store) {
	var want []uint64
	var wantB []uint64
	for round := 0; round < 20; round++ {
		evs := make([]*ssehub.Event, 500)
		for i := range evs {
			evs[i] = ev("dense", "d")
		}
		evs[round%500] = ev("sparse", fmt.Sprint(round))
		evs[499-round] = ev("sparse.b", "b")
		res := appendOK(t, l, evs...)
		want = append(want, res[round%500].ID)
		wantB = append(wantB, res[499-round].ID)
	}
	got := readAll(t, l, 0, ssehub.MustFilter("sparse"))
	if len(got) != len(want) {
		t.Fatalf("sparse topic: %d events, want %d", len(got), len(want))
	}
	for i, e := range got {
		if e.ID != want[i] || string(e.Data) != fmt.Sprint(i) || e.Topic != "sparse" {
			t.Fatalf("sparse event %d: %+v, want id %d", i, e, want[i])
		}
	}
	all := append(append([]uint64(nil), want...), wantB...)
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	got = readAll(t, l, 0, ssehub.MustFilter("sparse", "sparse.*"))
	if len(got) != len(all) {
		t.Fatalf("sparse union: %d events, want %d", len(got), len(all))
	}
	for i, e := range got {
		if e.ID != all[i] {
			t.Fatalf("sparse union event %d: id %d, want %d", i, e.ID, all[i])
		}
	}
	if got := readAll(t, l, want[10], ssehub.MustFilter("sparse")); len(got) != 9 || got[0].ID != want[11] {
		t.Fatalf("sparse from the middle: %s", idsOf(got))
	}
	if got := readAll(t, l, 0, ssehub.MustFilter("dense")); len(got) != 20*498 {
		t.Fatalf("dense topic: %d events", len(got))
	}
}

func testReadStopsAtHead(t *testing.T, l ssehub.Store) {
	appendOK(t, l, ev("a", "1"), ev("a", "2"))
	// Each read appends one event while it runs: the All read finds 2
	// events, the filtered one 3.
	for _, c := range []struct {
		want int
		f    ssehub.Filter
	}{{2, ssehub.All()}, {3, ssehub.MustFilter("a")}} {
		want, f := c.want, c.f
		n := 0
		err := l.Read(bg, 0, f, func(*ssehub.Event) error {
			n++
			if n == 1 {
				if _, err := l.Append(bg, []*ssehub.Event{ev("a", "late")}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil || n != want {
			t.Fatalf("Read(%s) gave %d events (%v), want the %d that existed at the start", f, n, err, want)
		}
	}
}

// testReadCancel: a canceled context ends a Read with the context's error.
func testReadCancel(t *testing.T, l ssehub.Store) {
	evs := make([]*ssehub.Event, 100)
	for i := range evs {
		evs[i] = ev("r", fmt.Sprint(i))
	}
	appendOK(t, l, evs...)
	for _, f := range []ssehub.Filter{ssehub.All(), ssehub.MustFilter("r")} {
		ctx, cancel := context.WithCancel(bg)
		n := 0
		err := l.Read(ctx, 0, f, func(*ssehub.Event) error {
			n++
			if n == 1 {
				cancel()
			}
			return ctx.Err()
		})
		if !errors.Is(err, context.Canceled) || n != 1 {
			t.Fatalf("Read(%s) after cancel: %v after %d events", f, err, n)
		}
		if err := l.Read(ctx, 0, f, func(*ssehub.Event) error { return nil }); !errors.Is(err, context.Canceled) {
			t.Fatalf("Read(%s) with a canceled context: %v", f, err)
		}
	}
}

// testSys: system events take ids and reach Follow, but Read never returns
// them, Topics never lists them and Topic and Last do not find them.
func testSys(t *testing.T, l ssehub.Store) {
	ts, ok := l.(ssehub.Topics)
	if !ok {
		t.Fatal("a Store implements Topics")
	}
	appendOK(t, l, ev("a", "1"), ev(ssehub.SysDeregister, "a"), ev("a", "2"), ev(ssehub.SysRevoke, "tok"))
	if p := bounds(t, l); p.Head != 4 {
		t.Fatalf("system events take ids: head %d", p.Head)
	}
	for _, f := range []ssehub.Filter{ssehub.All(), ssehub.MustFilter("a")} {
		if got := readAll(t, l, 0, f); idsOf(got) != "1 3" {
			t.Fatalf("Read(%s) = [%s], want [1 3]: no system events", f, idsOf(got))
		}
	}
	infos, err := ts.Topics(bg, "", 0)
	if err != nil || len(infos) != 1 || infos[0].Topic != "a" {
		t.Fatalf("Topics lists %+v (%v), want only a", infos, err)
	}
	for _, sys := range []string{ssehub.SysDeregister, ssehub.SysRevoke} {
		if _, err := ts.Topic(bg, sys); !errors.Is(err, ssehub.ErrNotFound) {
			t.Errorf("Topic(%s): %v, want ErrNotFound", sys, err)
		}
		if _, err := ts.Last(bg, sys); !errors.Is(err, ssehub.ErrNotFound) {
			t.Errorf("Last(%s): %v, want ErrNotFound", sys, err)
		}
	}
	ctx, cancel := context.WithTimeout(bg, 5*time.Second)
	defer cancel()
	var got []string
	stop := errors.New("stop")
	err = l.Follow(ctx, 0, func(e *ssehub.Event) error {
		got = append(got, fmt.Sprintf("%d:%s:%s", e.ID, e.Topic, e.Data))
		if e.ID == 4 {
			return stop
		}
		return nil
	})
	want := fmt.Sprintf("[1:a:1 2:%s:a 3:a:2 4:%s:tok]", ssehub.SysDeregister, ssehub.SysRevoke)
	if !errors.Is(err, stop) || fmt.Sprint(got) != want {
		t.Fatalf("Follow gave %v (%v), want %s", got, err, want)
	}
}

func testFollow(t *testing.T, l ssehub.Store) {
	appendOK(t, l, ev("f", "1"), ev("f", "2"))
	ctx, cancel := context.WithCancel(bg)
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
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("follow ended with %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follow did not stop on cancel")
	}
}

// testFollowConcurrent: a follower from 0 sees every id exactly once and
// in order while 8 goroutines append single events and small batches.
func testFollowConcurrent(t *testing.T, l ssehub.Store) {
	const goroutines, each = 8, 60
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	got := make(chan *ssehub.Event, goroutines*each*2)
	done := make(chan error, 1)
	go func() {
		done <- l.Follow(ctx, 0, func(e *ssehub.Event) error { got <- e; return nil })
	}()
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < each; {
				n := min(1+i%3, each-i)
				evs := make([]*ssehub.Event, n)
				for j := range evs {
					evs[j] = ev("f", fmt.Sprintf("%d-%d", g, i+j))
				}
				if _, err := l.Append(bg, evs); err != nil {
					t.Error(err)
					return
				}
				i += n
			}
		}(g)
	}
	wg.Wait()
	seen := map[string]bool{}
	var last uint64
	for n := 0; n < goroutines*each; n++ {
		select {
		case e := <-got:
			if e.ID <= last {
				t.Fatalf("follow gave id %d after %d", e.ID, last)
			}
			last = e.ID
			if seen[string(e.Data)] {
				t.Fatalf("event %q delivered twice", e.Data)
			}
			seen[string(e.Data)] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("follow stalled after id %d", last)
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
func testFollowFromMiddle(t *testing.T, l ssehub.Store) {
	for i := 0; i < 10; i++ {
		appendOK(t, l, ev("m", fmt.Sprint(i)))
	}
	ctx, cancel := context.WithTimeout(bg, 5*time.Second)
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
func testFollowStopsOnFn(t *testing.T, l ssehub.Store) {
	ctx, cancel := context.WithTimeout(bg, 5*time.Second)
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

// testFollowOwnership: the events Follow passes belong to the receiver. Two
// followers keep every event they get (from the file or the store's memory,
// live and behind), while the store goes on appending, reading, answering
// Last and (when it can) removing events by retention; afterwards every
// kept event is unchanged, byte for byte. Under -race a write by the store
// to a kept event is also a reported race, since the test reads them from
// other goroutines.
func testFollowOwnership(t *testing.T, c Config) {
	var s ssehub.Store
	if c.OpenRetention != nil {
		s = c.OpenRetention(t, ssehub.Retention{MaxEvents: 50})
	} else {
		s = c.Open(t)
	}
	defer s.Close()
	ts := s.(ssehub.Topics)
	payload := func(i int) *ssehub.Event {
		return &ssehub.Event{Topic: fmt.Sprintf("own.%d", i%3), Type: "t", Key: fmt.Sprint("k", i), Entity: "e",
			Source: "s", Meta: []byte(fmt.Sprintf(`{"i":%d}`, i)), Data: bytes.Repeat([]byte{byte(i)}, 1+i%40)}
	}
	appendOK(t, s, payload(0), payload(1), payload(2))

	type kept struct {
		ev   *ssehub.Event
		copy ssehub.Event
	}
	const total = 300
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	var mu sync.Mutex
	var keptEvs []kept
	var wg sync.WaitGroup
	follow := func(after uint64, delay bool) {
		defer wg.Done()
		_ = s.Follow(ctx, after, func(e *ssehub.Event) error {
			k := kept{ev: e, copy: clone(e)}
			mu.Lock()
			keptEvs = append(keptEvs, k)
			mu.Unlock()
			if delay {
				time.Sleep(50 * time.Microsecond) // fall behind, so some events come from the file
			}
			if e.ID >= total {
				return errors.New("done")
			}
			return nil
		})
	}
	wg.Add(2)
	go follow(0, false)
	go follow(0, true)
	for i := 3; i < total; i++ {
		appendOK(t, s, payload(i))
		if i%10 == 0 {
			readAll(t, s, 0, ssehub.MustFilter("own.*"))
			if _, err := ts.Last(bg, "own.1"); err != nil {
				t.Fatal(err)
			}
		}
	}
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
		t.Fatal("followers did not reach the last event")
	}
	// A follower that starts far behind (past any in-memory window a store
	// keeps: 10,000 events) gets its events from storage.
	batch := min(s.Capabilities().MaxBatch, 100)
	for i := total; i < total+10_000; i += batch {
		evs := make([]*ssehub.Event, batch)
		for j := range evs {
			evs[j] = payload(i + j)
		}
		appendOK(t, s, evs...)
	}
	head := bounds(t, s).Head
	lateCtx, lateCancel := context.WithTimeout(bg, 10*time.Second)
	defer lateCancel()
	late := 0
	err := s.Follow(lateCtx, 0, func(e *ssehub.Event) error {
		mu.Lock()
		keptEvs = append(keptEvs, kept{ev: e, copy: clone(e)})
		mu.Unlock()
		late++
		if e.ID >= head {
			return errors.New("done")
		}
		return nil
	})
	if late == 0 || lateCtx.Err() != nil {
		t.Fatalf("the late follower got %d events (%v)", late, err)
	}
	// More work on the store after the followers stopped.
	for i := total + 10_000; i < total+10_100; i++ {
		appendOK(t, s, payload(i))
	}
	readAll(t, s, 0, ssehub.All())
	if len(keptEvs) < 100 {
		t.Fatalf("followers kept only %d events", len(keptEvs))
	}
	for _, k := range keptEvs {
		if !reflect.DeepEqual(*k.ev, k.copy) {
			t.Fatalf("event %d changed after Follow passed it: %+v, was %+v", k.copy.ID, *k.ev, k.copy)
		}
	}
}

func testDedupe(t *testing.T, l ssehub.Store) {
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
	if got := readAll(t, l, 0, ssehub.All()); len(got) != 3 || string(got[0].Data) != "first" {
		t.Fatalf("stored %d events: %+v", len(got), got)
	}
}

func testTopics(t *testing.T, l ssehub.Store) {
	appendOK(t, l, ev("x", "1"), ev("y", "2"), ev("x", "3"))
	infos, err := l.Topics(bg, "", 0)
	if err != nil || fmt.Sprint(infos) != "[{x 2 3} {y 1 2}]" {
		t.Fatalf("topics: %+v %v", infos, err)
	}
	if ti, err := l.Topic(bg, "x"); err != nil || ti != (ssehub.TopicInfo{Topic: "x", Events: 2, LastID: 3}) {
		t.Fatalf("Topic(x): %+v %v", ti, err)
	}
	if _, err := l.Topic(bg, "nope"); !errors.Is(err, ssehub.ErrNotFound) {
		t.Fatalf("Topic(nope): %v, want ErrNotFound", err)
	}
	// A duplicate stores nothing, so it changes no count.
	appendOK(t, l, &ssehub.Event{Topic: "y", Key: "k"}, &ssehub.Event{Topic: "y", Key: "k"})
	if ti, err := l.Topic(bg, "y"); err != nil || ti.Events != 2 || ti.LastID != 4 {
		t.Fatalf("Topic(y) after a duplicate: %+v %v", ti, err)
	}
}

// testTopicsPaging: Topics pages by name with after and limit.
func testTopicsPaging(t *testing.T, l ssehub.Store) {
	names := []string{"e", "b", "d.x", "a", "c", "d", "b.a"}
	for i, n := range names {
		evs := make([]*ssehub.Event, i+1)
		for j := range evs {
			evs[j] = ev(n, "x")
		}
		appendOK(t, l, evs...)
	}
	page := func(after string, limit int) string {
		t.Helper()
		infos, err := l.Topics(bg, after, limit)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, ti := range infos {
			out = append(out, fmt.Sprintf("%s:%d", ti.Topic, ti.Events))
		}
		return fmt.Sprint(out)
	}
	cases := []struct {
		after string
		limit int
		want  string
	}{
		{"", 0, "[a:4 b:2 b.a:7 c:5 d:6 d.x:3 e:1]"},
		{"", -1, "[a:4 b:2 b.a:7 c:5 d:6 d.x:3 e:1]"},
		{"", 2, "[a:4 b:2]"},
		{"b", 2, "[b.a:7 c:5]"},
		{"c", 3, "[d:6 d.x:3 e:1]"},
		{"bb", 1, "[c:5]"},
		{"e", 5, "[]"},
		{"z", 0, "[]"},
	}
	for _, c := range cases {
		if got := page(c.after, c.limit); got != c.want {
			t.Errorf("Topics(after %q, limit %d) = %s, want %s", c.after, c.limit, got, c.want)
		}
	}
	// Paging through one at a time visits every topic once.
	var seen []string
	for after := ""; ; {
		infos, err := l.Topics(bg, after, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(infos) == 0 {
			break
		}
		seen = append(seen, infos[0].Topic)
		after = infos[0].Topic
	}
	if fmt.Sprint(seen) != "[a b b.a c d d.x e]" {
		t.Fatalf("paged one by one: %v", seen)
	}
}

// testLast: Last returns a copy of the topic's newest event.
func testLast(t *testing.T, l ssehub.Store) {
	if _, err := l.Last(bg, "l"); !errors.Is(err, ssehub.ErrNotFound) {
		t.Fatalf("Last of an unknown topic: %v", err)
	}
	appendOK(t, l, ev("l", "1"), ev("m", "2"), &ssehub.Event{Topic: "l", Type: "ty", Meta: []byte(`{"a":1}`), Data: []byte("3")}, ev("m", "4"))
	e, err := l.Last(bg, "l")
	if err != nil || e.ID != 3 || string(e.Data) != "3" || e.Type != "ty" || string(e.Meta) != `{"a":1}` || e.Topic != "l" || e.Time.IsZero() {
		t.Fatalf("Last(l): %+v %v", e, err)
	}
	e.Data[0] = 'X'
	if e2, _ := l.Last(bg, "l"); string(e2.Data) != "3" {
		t.Fatalf("Last did not return a copy: %q after the caller changed its own", e2.Data)
	}
	if e, err := l.Last(bg, "m"); err != nil || e.ID != 4 {
		t.Fatalf("Last(m): %+v %v", e, err)
	}
	if _, err := l.Last(bg, "l.sub"); !errors.Is(err, ssehub.ErrNotFound) {
		t.Fatalf("Last of a topic below l: %v", err)
	}
}

func testKV(t *testing.T, l ssehub.Store) {
	if _, err := l.Get(bg, "b", "k"); !errors.Is(err, ssehub.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	if err := l.Put(bg, "b", "", []byte("v")); err == nil {
		t.Fatal("an empty key was stored")
	}
	if err := l.List(bg, "never", func(string, []byte) error { return errors.New("called") }); err != nil {
		t.Fatalf("List of a missing bucket: %v", err)
	}
	for _, k := range []string{"k2", "k1", "k3"} {
		if err := l.Put(bg, "b", k, []byte("v"+k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Put(bg, "other", "k1", []byte("o")); err != nil {
		t.Fatal(err)
	}
	val := []byte("new")
	if err := l.Put(bg, "b", "k2", val); err != nil {
		t.Fatal(err)
	}
	val[0] = 'X' // the store copied it
	if v, err := l.Get(bg, "b", "k1"); err != nil || string(v) != "vk1" {
		t.Fatalf("get: %q %v", v, err)
	}
	v, err := l.Get(bg, "b", "k2")
	if err != nil || string(v) != "new" {
		t.Fatalf("overwritten: %q %v", v, err)
	}
	v[0] = 'Y' // the caller owns what Get returns
	if v, _ := l.Get(bg, "b", "k2"); string(v) != "new" {
		t.Fatalf("Get returned the store's own bytes: %q", v)
	}
	if err := l.Delete(bg, "b", "k3"); err != nil {
		t.Fatal(err)
	}
	if err := l.Delete(bg, "b", "nope"); err != nil {
		t.Fatal(err)
	}
	if err := l.Delete(bg, "nobucket", "nope"); err != nil {
		t.Fatal(err)
	}
	var keys []string
	if err := l.List(bg, "b", func(k string, v []byte) error { keys = append(keys, k+"="+string(v)); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(keys) != "[k1=vk1 k2=new]" {
		t.Fatalf("list: %v", keys)
	}
	stop := errors.New("stop")
	n := 0
	if err := l.List(bg, "b", func(string, []byte) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Fatalf("List with fn's error: %v after %d", err, n)
	}
	if v, err := l.Get(bg, "other", "k1"); err != nil || string(v) != "o" {
		t.Fatalf("buckets are separate: %q %v", v, err)
	}
}

// testClose: Append after Close fails with ErrClosed, a waiting Follow
// returns, and a second Close is harmless.
func testClose(t *testing.T, l ssehub.Store) {
	appendOK(t, l, ev("z", "1"))
	follow := make(chan error, 1)
	go func() {
		follow <- l.Follow(bg, 1, func(*ssehub.Event) error { return nil })
	}()
	time.Sleep(20 * time.Millisecond) // let Follow wait for events
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(bg, []*ssehub.Event{ev("z", "2")}); !errors.Is(err, ssehub.ErrClosed) {
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
}

// waitFirst polls until the log's First is want: a store may apply
// retention when it commits or shortly after.
func waitFirst(t *testing.T, l ssehub.Log, want uint64) ssehub.Position {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		p := bounds(t, l)
		if p.First == want {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("position %+v; want First %d", p, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testRetention: with MaxEvents, First moves up, Read starts there, topic
// counts follow, a topic with no retained event disappears from Topics,
// Topic and Last, and Last of a topic that kept events is its newest.
func testRetention(t *testing.T, c Config) {
	if c.OpenRetention == nil {
		t.Skip("the store has no Config.OpenRetention")
	}
	l := c.OpenRetention(t, ssehub.Retention{MaxEvents: 5})
	defer l.Close()
	ts := l.(ssehub.Topics)
	appendOK(t, l, ev("old", "1"), ev("keep", "2"), ev("old", "3"))
	for i := 4; i <= 10; i++ {
		topic := "new"
		if i == 8 {
			topic = "keep"
		}
		appendOK(t, l, ev(topic, fmt.Sprint(i)))
	}
	p := waitFirst(t, l, 6)
	if p.Head != 10 {
		t.Fatalf("head after retention %d", p.Head)
	}
	if got := readAll(t, l, 0, ssehub.All()); idsOf(got) != "6 7 8 9 10" {
		t.Fatalf("read after retention: %s", idsOf(got))
	}
	if got := readAll(t, l, 2, ssehub.MustFilter("keep", "old")); idsOf(got) != "8" {
		t.Fatalf("filtered read after retention: %s", idsOf(got))
	}
	infos, err := ts.Topics(bg, "", 0)
	if err != nil || fmt.Sprint(infos) != "[{keep 1 8} {new 4 10}]" {
		t.Fatalf("topics after retention: %v %v", infos, err)
	}
	if _, err := ts.Topic(bg, "old"); !errors.Is(err, ssehub.ErrNotFound) {
		t.Fatalf("Topic of a topic with no retained event: %v", err)
	}
	if _, err := ts.Last(bg, "old"); !errors.Is(err, ssehub.ErrNotFound) {
		t.Fatalf("Last of a topic with no retained event: %v", err)
	}
	if e, err := ts.Last(bg, "keep"); err != nil || e.ID != 8 || string(e.Data) != "8" {
		t.Fatalf("Last(keep): %+v %v", e, err)
	}
	// The topic comes back with its next event.
	appendOK(t, l, ev("old", "11"))
	if ti, err := ts.Topic(bg, "old"); err != nil || ti.Events != 1 || ti.LastID != 11 {
		t.Fatalf("Topic(old) after a new event: %+v %v", ti, err)
	}
}

// testRetentionFollow: a follower from 0 gets increasing ids ending at the
// head and every retained one.
func testRetentionFollow(t *testing.T, c Config) {
	if c.OpenRetention == nil {
		t.Skip("the store has no Config.OpenRetention")
	}
	l := c.OpenRetention(t, ssehub.Retention{MaxEvents: 10})
	defer l.Close()
	for i := 0; i < 30; i++ {
		appendOK(t, l, ev("rf", fmt.Sprint(i)))
	}
	p := waitFirst(t, l, 21)
	ctx, cancel := context.WithTimeout(bg, 5*time.Second)
	defer cancel()
	var ids []uint64
	stop := errors.New("stop")
	err := l.Follow(ctx, 0, func(e *ssehub.Event) error {
		ids = append(ids, e.ID)
		if e.ID == p.Head {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("follow: %v after %v", err, ids)
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			t.Fatalf("follow ids not increasing: %v", ids)
		}
	}
	if len(ids) < 10 || fmt.Sprint(ids[len(ids)-10:]) != "[21 22 23 24 25 26 27 28 29 30]" {
		t.Fatalf("follow from 0 after retention gave %v: want every retained id", ids)
	}
}

// testReopen: the epoch, the head, the events, the topics and the KV
// survive a restart, and ids continue.
func testReopen(t *testing.T, c Config) {
	if c.Reopen == nil {
		t.Skip("the store has no Config.Reopen")
	}
	s := c.Open(t)
	appendOK(t, s, ev("r.a", "1"), ev("r.b", "2"), ev(ssehub.SysRevoke, "x"), ev("r.a", "4"))
	if err := s.Put(bg, "kv", "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	before := bounds(t, s)
	s = c.Reopen(t, s)
	defer func() { s.Close() }()
	after := bounds(t, s)
	if after != before {
		t.Fatalf("position after reopen %+v, before %+v", after, before)
	}
	if got := readAll(t, s, 0, ssehub.All()); idsOf(got) != "1 2 4" || string(got[2].Data) != "4" {
		t.Fatalf("events after reopen: %s", idsOf(got))
	}
	if got := readAll(t, s, 0, ssehub.MustFilter("r.a")); idsOf(got) != "1 4" {
		t.Fatalf("filtered read after reopen: %s", idsOf(got))
	}
	if infos, err := s.Topics(bg, "", 0); err != nil || fmt.Sprint(infos) != "[{r.a 2 4} {r.b 1 2}]" {
		t.Fatalf("topics after reopen: %v %v", infos, err)
	}
	if v, err := s.Get(bg, "kv", "k"); err != nil || string(v) != "v" {
		t.Fatalf("kv after reopen: %q %v", v, err)
	}
	if r := appendOK(t, s, ev("r.a", "5")); r[0].ID != 5 {
		t.Fatalf("next id after reopen %d", r[0].ID)
	}
	s = c.Reopen(t, s)
	if p := bounds(t, s); p.Epoch != before.Epoch || p.Head != 5 {
		t.Fatalf("second reopen: %+v, epoch was %q", p, before.Epoch)
	}
}

// testReopenAfterEmptying: ids continue after a restart even when
// retention removed every event.
func testReopenAfterEmptying(t *testing.T, c Config) {
	if c.Reopen == nil || c.OpenRetention == nil {
		t.Skip("needs Config.Reopen and Config.OpenRetention")
	}
	s := c.OpenRetention(t, ssehub.Retention{MaxEvents: 2})
	for i := 0; i < 6; i++ {
		appendOK(t, s, ev("e", fmt.Sprint(i)))
	}
	waitFirst(t, s, 5)
	epoch := bounds(t, s).Epoch
	s = c.Reopen(t, s)
	defer func() { s.Close() }()
	if p := bounds(t, s); p.Head != 6 || p.Epoch != epoch {
		t.Fatalf("after reopen: %+v, epoch was %q", p, epoch)
	}
	if r := appendOK(t, s, ev("e", "7")); r[0].ID != 7 {
		t.Fatalf("next id %d", r[0].ID)
	}
}
