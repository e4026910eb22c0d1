// Package groupcommit is the single writer of the embedded stores (bolt,
// pebble): it takes every append queued at the moment, commits them as one
// group, and retries a failed group request by request, so that one bad
// request never fails another's.
package groupcommit

import (
	"log/slog"

	"github.com/ssehub/ssehub"
)

// Request is one Append waiting for its group's commit.
type Request struct {
	Events []*ssehub.Event
	Size   int64 // the events' Event.Size
	Res    []ssehub.AppendResult
	Err    error
	Done   chan struct{} // closed once Res or Err is set
}

// NewRequest returns the request of an Append of events of size bytes.
func NewRequest(events []*ssehub.Event, size int64) *Request {
	return &Request{Events: events, Size: size, Done: make(chan struct{})}
}

// Writer commits the requests it reads, in groups.
type Writer struct {
	Reqs <-chan *Request
	// Quit stops the writer once what is queued is committed.
	Quit <-chan struct{}
	// A group holds at most MaxBatch events and at most MaxBytes bytes
	// (0: unbounded), so every event of a group is retained when it
	// commits; a request that does not fit waits for the next group.
	MaxBatch int
	MaxBytes int64
	// Commit commits a group in one transaction and, once it is durable,
	// sets each request's Res and closes its Done; it may return before
	// that (a pipelined store answers from another goroutine), but must
	// not keep the slice, which the writer reuses. On error it must have
	// stored and answered nothing.
	Commit func([]*Request) error
	// BeforeGroup, when set, runs once a group's first request is in and
	// before the queue is drained into the group: a pipelined store waits
	// there for room, so that the group takes whatever arrives meanwhile.
	BeforeGroup func()
	// AfterGroup, when set, runs after each group.
	AfterGroup func()
	Logger     *slog.Logger
	Name       string // the store, in log lines
}

// Run commits until Quit is closed and the queue is empty.
func (w *Writer) Run() {
	var batch []*Request
	var carry *Request
	for {
		first := carry
		carry = nil
		if first == nil {
			select {
			case first = <-w.Reqs:
			case <-w.Quit:
				// Finish what is queued, then stop.
				for {
					select {
					case r := <-w.Reqs:
						w.commitAll([]*Request{r})
					default:
						return
					}
				}
			}
		}
		if w.BeforeGroup != nil {
			w.BeforeGroup()
		}
		batch = append(batch[:0], first)
		n, size := len(first.Events), first.Size
	drain:
		for n < w.MaxBatch {
			select {
			case r := <-w.Reqs:
				if n+len(r.Events) > w.MaxBatch || w.MaxBytes > 0 && size+r.Size > w.MaxBytes {
					carry = r
					break drain
				}
				batch = append(batch, r)
				n += len(r.Events)
				size += r.Size
			default:
				break drain
			}
		}
		w.commitAll(batch)
		clear(batch) // hold no request past its answer
		if carry != nil {
			select {
			case <-w.Quit:
				w.commitAll([]*Request{carry})
				carry = nil
			default:
			}
		}
		if w.AfterGroup != nil {
			w.AfterGroup()
		}
	}
}

// commitAll commits a group; if its transaction fails, each request is
// retried in a transaction of its own, so that only a failing request gets
// an error. Each request stays all-or-nothing and is answered only once
// durable.
func (w *Writer) commitAll(batch []*Request) {
	err := w.Commit(batch)
	if err == nil {
		return
	}
	if len(batch) == 1 {
		batch[0].Res, batch[0].Err = nil, err
		close(batch[0].Done)
		return
	}
	w.Logger.Warn(w.Name+": group commit failed, committing its appends one by one", "appends", len(batch), "err", err)
	for _, req := range batch {
		if err := w.Commit([]*Request{req}); err != nil {
			req.Res, req.Err = nil, err
			close(req.Done)
		}
	}
}
