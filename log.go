package ssehub

import (
	"context"
	"errors"
	"time"
)

// Errors shared by every Log implementation.
var (
	// ErrClosed is returned by a log that has been closed.
	ErrClosed = errors.New("ssehub: log closed")
	// ErrTooLarge is returned when an event or batch exceeds a store limit.
	ErrTooLarge = errors.New("ssehub: event too large")
)

// Log is the durable, ordered record of events that the hub streams from.
//
// Ids are global across topics and strictly increasing; after a restart they
// keep increasing from the last id ever assigned, even when retention has
// removed every event. A Log is safe for concurrent use.
//
// The hub uses a Log in three ways: Append for publishes, Follow for the one
// live feed per node, and Read for catch-up from a client's Last-Event-ID.
type Log interface {
	// Append stores events as one all-or-nothing batch, setting each event's
	// ID and Time, and returns once the batch is durable. Events carrying a
	// Key already seen for the same topic inside the dedupe window are not
	// stored again; their result reports the first id and Duplicate.
	Append(ctx context.Context, events []*Event) ([]AppendResult, error)

	// Read calls fn, in id order, for each retained event with an id greater
	// than after whose topic m matches, until the last event that existed
	// when Read started, fn returns an error (which Read returns), or ctx is
	// done. Events are streamed, not loaded into memory at once; fn must not
	// keep the event after it returns unless it copies it.
	Read(ctx context.Context, after uint64, m Matcher, fn func(*Event) error) error

	// Follow calls fn, in id order and from one goroutine, for every event
	// appended with an id greater than after, until ctx is done or fn
	// returns an error. It is the node's single live feed.
	Follow(ctx context.Context, after uint64, fn func(*Event) error) error

	// Bounds returns the oldest retained id and the last id ever assigned
	// (the head). With no retained events first is head+1.
	Bounds() (first, head uint64)

	// Close releases the log. Appends after Close fail with ErrClosed.
	Close() error
}

// Retention limits how much history a log keeps. A zero field is no limit.
type Retention struct {
	MaxEvents int64
	MaxBytes  int64
	MaxAge    time.Duration
}

// Matcher reports whether a topic is selected. Pattern and Patterns implement it.
type Matcher interface {
	Match(topic string) bool
}

// TopicInfo describes one topic of a log.
type TopicInfo struct {
	Topic string
	// Events is the number of retained events of the topic.
	Events int64
	// LastID is the id of the topic's newest event ever appended.
	LastID uint64
}

// Topics is implemented by logs that keep per-topic statistics.
type Topics interface {
	// Topics returns every topic with retained events or a last id, sorted by name.
	Topics(ctx context.Context) ([]TopicInfo, error)
}

// ErrNotFound is returned by KV.Get for a missing key.
var ErrNotFound = errors.New("ssehub: not found")

// KV is a small durable key-value store for the hub's own state (tokens,
// deregistered topics), kept beside the log by each store.
type KV interface {
	// Get returns the value of key in bucket, or ErrNotFound.
	Get(ctx context.Context, bucket, key string) ([]byte, error)
	// Put stores value under key in bucket, durably.
	Put(ctx context.Context, bucket, key string, value []byte) error
	// Delete removes key from bucket; deleting a missing key is not an error.
	Delete(ctx context.Context, bucket, key string) error
	// List calls fn for every key of bucket in key order until fn returns an error.
	List(ctx context.Context, bucket string, fn func(key string, value []byte) error) error
}
