package groupcommit

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"testing"

	"github.com/ssehub/ssehub"
)

// TestQueueSubmitAndClose: Submit returns its group's answer; once the
// queue is closed it refuses with ErrClosed; a Submit waiting for room
// gives up with its context.
func TestQueueSubmitAndClose(t *testing.T) {
	q := NewQueue(1)
	quit := make(chan struct{})
	gate := make(chan struct{})
	held := make(chan struct{}, 4)
	w := &Writer{Reqs: q.Reqs(), Quit: quit, MaxBatch: 10, Logger: slog.New(slog.DiscardHandler), Name: "test",
		BeforeGroup: func() { held <- struct{}{}; <-gate },
		Commit:      func(batch []*Request) error { answer(batch); return nil }}
	done := make(chan struct{})
	go func() { defer close(done); w.Run() }()

	res := make(chan error, 2)
	submit := func(n int) {
		r, err := q.Submit(context.Background(), make([]*ssehub.Event, n), int64(n))
		if err == nil && len(r) != n {
			err = errors.New("wrong number of results")
		}
		res <- err
	}
	// The writer holds the first request at the gate, a second fills the
	// queue, and a third, whose context has ended, gives up waiting for room.
	go submit(2)
	<-held
	go submit(1)
	for len(q.reqs) < cap(q.reqs) {
		runtime.Gosched()
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := q.Submit(ctx, make([]*ssehub.Event, 1), 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Submit on a full queue with an ended context: %v", err)
	}
	close(gate)
	for range 2 {
		if err := <-res; err != nil {
			t.Fatal(err)
		}
	}
	q.Close()
	if _, err := q.Submit(context.Background(), make([]*ssehub.Event, 1), 1); !errors.Is(err, ssehub.ErrClosed) {
		t.Fatalf("Submit after Close: %v, want ErrClosed", err)
	}
	close(quit)
	<-done
}

// TestCheckLimits: each bound refuses with the error a caller tells apart.
func TestCheckLimits(t *testing.T) {
	lim := Limits{MaxBatch: 2, MaxKeyLen: 20, MaxRecord: 50, MaxBytes: 1000}
	size := func(e *ssehub.Event) int { return len(e.Topic) + len(e.Data) }
	ev := func(topic, key, data string) *ssehub.Event {
		return &ssehub.Event{Topic: topic, Key: key, Data: []byte(data)}
	}
	for _, c := range []struct {
		name   string
		events []*ssehub.Event
		want   error
		text   string
	}{
		{"too many", []*ssehub.Event{ev("a", "", ""), ev("a", "", ""), ev("a", "", "")}, ssehub.ErrTooLarge, "at most 2 events"},
		{"empty topic", []*ssehub.Event{ev("", "", "")}, ssehub.ErrInvalidTopic, "empty"},
		{"NUL", []*ssehub.Event{ev("a\x00b", "", "")}, ssehub.ErrInvalidTopic, "NUL"},
		{"long topic", []*ssehub.Event{ev(strings.Repeat("t", 12), "", "")}, ssehub.ErrTooLarge, "topic of 12 bytes"},
		{"long key", []*ssehub.Event{ev("t", strings.Repeat("k", 19), "")}, ssehub.ErrTooLarge, "idempotency key of 19 bytes"},
		{"large record", []*ssehub.Event{ev("t", "", strings.Repeat("d", 50))}, ssehub.ErrTooLarge, "takes 51 bytes"},
		{"over max_bytes", []*ssehub.Event{ev("t", "", strings.Repeat("d", 40)), ev("t", "", strings.Repeat("d", 40))}, nil, ""},
	} {
		_, err := Check(c.events, lim, size)
		if c.want == nil {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.text) {
			t.Errorf("%s: %v, want %v mentioning %q", c.name, err, c.want, c.text)
		}
	}
	lim.MaxBytes = 10
	big := ev("t", "", strings.Repeat("d", 20))
	if _, err := Check([]*ssehub.Event{big}, lim, size); !errors.Is(err, ssehub.ErrTooLarge) || !strings.Contains(err.Error(), "max_bytes") {
		t.Errorf("over max_bytes: %v", err)
	}
	if n, err := Check([]*ssehub.Event{ev("t", "k", "ab")}, Limits{MaxBatch: 1, MaxKeyLen: 20, MaxRecord: 50}, size); err != nil || n != int64(ev("t", "k", "ab").Size()) {
		t.Errorf("a good event: size %d, %v", n, err)
	}
}
