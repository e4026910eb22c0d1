package hub

import (
	"context"

	"github.com/ssehub/ssehub"
)

// Conditional reports whether the store appends on a condition
// (ssehub.ConditionalAppender), as a store that several hub nodes write
// must for PublishIfLast to mean anything.
func (h *Hub) Conditional() bool {
	_, ok := h.store.(ssehub.ConditionalAppender)
	return ok
}

// PublishIfLast is Publish on a condition: that the newest event on topic
// has id last (0: none). When another writer appended to topic since,
// nothing is stored and the error wraps ssehub.ErrConflict: read the
// topic again and decide again. On a store that is not a
// ssehub.ConditionalAppender it is Publish: only this hub writes that
// store, and its caller's own lock orders its writers.
func (h *Hub) PublishIfLast(ctx context.Context, topic string, last uint64, events []*ssehub.Event) ([]ssehub.AppendResult, error) {
	ca, ok := h.store.(ssehub.ConditionalAppender)
	if !ok {
		return h.Publish(ctx, events)
	}
	return h.publish(ctx, events, func(ctx context.Context, evs []*ssehub.Event) ([]ssehub.AppendResult, error) {
		return ca.AppendIfLast(ctx, topic, last, evs)
	})
}
