package durable

import (
	"context"
	"errors"
	"fmt"

	"github.com/ssehub/ssehub"
)

// maxConflicts bounds how often one batch is decided again because
// another node wrote its stream meanwhile (ssehub.ErrConflict); past it
// the requests get 503 and Retry-After.
const maxConflicts = 8

// expect is the id a conditional append on e's topic expects as the
// topic's newest event: the last one applied (e locked).
func (e *entry) expect() uint64 { return e.st.applied }

// resync reads (e locked) what other writers appended to e's topic after a
// conditional append found it changed, and returns the id the next
// append must expect. When the read brings nothing new, the topic's newest
// retained event is older than the last one applied (retention removed
// the topic's tail, or a lagging read): its id, or 0 for an empty topic,
// is what the store compares with.
func (r *registry) resync(ctx context.Context, e *entry) (uint64, error) {
	before := e.st.applied
	if _, err := r.refresh(ctx, e); err != nil {
		return 0, fmt.Errorf("stream %q: %w", e.name, err)
	}
	if e.st.applied != before {
		return e.st.applied, nil
	}
	ev, err := r.hub.Last(ctx, e.topic)
	switch {
	case errors.Is(err, ssehub.ErrNotFound):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("stream %q: %w", e.name, err)
	case ev.ID < e.st.applied:
		return ev.ID, nil
	}
	return e.st.applied, nil
}
