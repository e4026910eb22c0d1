package groupcommit

import (
	"errors"
	"log/slog"
	"sync"
	"testing"

	"github.com/ssehub/ssehub"
)

// run starts a writer with commit and returns its queue and a stop
// function that waits for it to finish.
func run(t *testing.T, w *Writer) (chan<- *Request, func()) {
	t.Helper()
	reqs := make(chan *Request, 64)
	quit := make(chan struct{})
	w.Reqs, w.Quit, w.Logger, w.Name = reqs, quit, slog.New(slog.DiscardHandler), "test"
	done := make(chan struct{})
	go func() { defer close(done); w.Run() }()
	return reqs, func() { close(quit); <-done }
}

func req(n int, size int64) *Request {
	return NewRequest(make([]*ssehub.Event, n), size)
}

// answer answers every request of a group.
func answer(batch []*Request) {
	for _, r := range batch {
		r.Res = make([]ssehub.AppendResult, len(r.Events))
		close(r.Done)
	}
}

// TestGroupsRespectBounds: requests queued together commit as one group,
// within MaxBatch events and MaxBytes bytes; one that does not fit waits
// for the next group, in order.
func TestGroupsRespectBounds(t *testing.T) {
	gate := make(chan struct{})
	var mu sync.Mutex
	var groups [][]*Request
	w := &Writer{MaxBatch: 10, MaxBytes: 100,
		// The first group waits at the gate, so the rest queue up behind it.
		BeforeGroup: func() { <-gate },
		Commit: func(batch []*Request) error {
			mu.Lock()
			groups = append(groups, append([]*Request(nil), batch...))
			mu.Unlock()
			answer(batch)
			return nil
		}}
	reqs, stop := run(t, w)
	all := []*Request{req(1, 10), req(4, 10), req(4, 10), req(2, 10), req(1, 60), req(1, 30), req(1, 1)}
	for _, r := range all {
		reqs <- r
	}
	close(gate) // every BeforeGroup passes from now on
	for _, r := range all {
		<-r.Done
	}
	stop()
	// 1+4+4 events fit, +2 would make 11 > 10; then 10+60+30 bytes fit
	// exactly (100, the bound), and one byte more does not.
	want := [][]int{{0, 1, 2}, {3, 4, 5}, {6}}
	if len(groups) != len(want) {
		t.Fatalf("%d groups, want %d", len(groups), len(want))
	}
	for g, idx := range want {
		if len(groups[g]) != len(idx) {
			t.Fatalf("group %d holds %d requests, want %d", g, len(groups[g]), len(idx))
		}
		for i, k := range idx {
			if groups[g][i] != all[k] {
				t.Fatalf("group %d request %d is not request %d", g, i, k)
			}
		}
	}
}

// TestFailedGroupRetriesEachRequest: a group whose commit fails is
// committed request by request, so only the failing request gets the
// error.
func TestFailedGroupRetriesEachRequest(t *testing.T) {
	gate := make(chan struct{})
	bad := req(1, 1)
	errBad := errors.New("bad request")
	var calls [][]*Request
	w := &Writer{MaxBatch: 100,
		BeforeGroup: func() { <-gate },
		Commit: func(batch []*Request) error {
			calls = append(calls, append([]*Request(nil), batch...))
			for _, r := range batch {
				if r == bad {
					return errBad
				}
			}
			answer(batch)
			return nil
		}}
	reqs, stop := run(t, w)
	good1, good2 := req(1, 1), req(2, 1)
	for _, r := range []*Request{good1, bad, good2} {
		reqs <- r
	}
	close(gate)
	for _, r := range []*Request{good1, bad, good2} {
		<-r.Done
	}
	stop()
	if good1.Err != nil || good2.Err != nil || len(good1.Res) != 1 || len(good2.Res) != 2 {
		t.Fatalf("good requests: %v %v %v %v", good1.Err, good2.Err, good1.Res, good2.Res)
	}
	if !errors.Is(bad.Err, errBad) || bad.Res != nil {
		t.Fatalf("bad request: %v %v", bad.Err, bad.Res)
	}
	if len(calls) != 4 || len(calls[0]) != 3 {
		t.Fatalf("commits: %d (first of %d), want the group then each of its 3 requests", len(calls), len(calls[0]))
	}
}

// TestQuitCommitsWhatIsQueued: Run returns once Quit is closed and every
// queued request is answered.
func TestQuitCommitsWhatIsQueued(t *testing.T) {
	gate := make(chan struct{})
	w := &Writer{MaxBatch: 2,
		BeforeGroup: func() { <-gate },
		Commit:      func(batch []*Request) error { answer(batch); return nil }}
	reqs, stop := run(t, w)
	var all []*Request
	for range 7 {
		r := req(1, 1)
		all = append(all, r)
		reqs <- r
	}
	close(gate)
	stop()
	for i, r := range all {
		select {
		case <-r.Done:
		default:
			t.Fatalf("request %d not answered when Run returned", i)
		}
	}
}
