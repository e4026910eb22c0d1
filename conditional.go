package ssehub

import "context"

// A ConditionalAppender is a Log that appends on a condition: that the
// newest event on a topic is still the one the caller last read. It is
// optimistic concurrency for writers on several hub nodes that check a
// topic's history before they append (Durable Streams' producer sequence
// numbers): each node holds only its own lock, so without a condition two
// nodes could both accept the same next number. A store that only one
// hub process writes (memory, bolt) needs none: the hub's own locks
// order its writers.
type ConditionalAppender interface {
	// AppendIfLast is Append when the newest event on topic has id last
	// (0: the topic has no event); otherwise it stores nothing and
	// returns an error wrapping ErrConflict. Only the first event on
	// topic in events is checked; the batch stays all or nothing.
	AppendIfLast(ctx context.Context, topic string, last uint64, events []*Event) ([]AppendResult, error)
}
