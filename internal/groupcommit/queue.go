package groupcommit

import (
	"context"
	"sync"

	"github.com/ssehub/ssehub"
)

// Queue is where a store's Appends queue their requests for its Writer
// (Queue.Reqs). Close stops new appends before the writer is told to
// stop, so that every request queued is committed.
type Queue struct {
	mu     sync.RWMutex // held while queueing, so Close stops new appends first
	closed bool
	reqs   chan *Request
}

// NewQueue returns a queue that holds up to n requests before an Append
// waits for room.
func NewQueue(n int) *Queue { return &Queue{reqs: make(chan *Request, n)} }

// Reqs is the writer's end of the queue (Writer.Reqs).
func (q *Queue) Reqs() <-chan *Request { return q.reqs }

// Submit queues an append of events (their Event.Size adding up to size)
// and waits for its commit. ctx ends only the wait for room in the queue:
// once queued, the commit finishes whatever ctx says. After Close it
// returns ssehub.ErrClosed.
func (q *Queue) Submit(ctx context.Context, events []*ssehub.Event, size int64) ([]ssehub.AppendResult, error) {
	req := NewRequest(events, size)
	q.mu.RLock()
	if q.closed {
		q.mu.RUnlock()
		return nil, ssehub.ErrClosed
	}
	select {
	case q.reqs <- req:
		q.mu.RUnlock()
	case <-ctx.Done():
		q.mu.RUnlock()
		return nil, ctx.Err()
	}
	<-req.Done
	return req.Res, req.Err
}

// Close makes every later Submit fail with ssehub.ErrClosed; requests
// already queued stay for the writer.
func (q *Queue) Close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
}
