package ssehub

import (
	"context"
	"errors"
	"time"
)

// Errors shared by every store.
var (
	// ErrClosed is returned by a log that has been closed.
	ErrClosed = errors.New("ssehub: log closed")
	// ErrTooLarge is returned when an event or batch exceeds a store limit.
	ErrTooLarge = errors.New("ssehub: event too large")
	// ErrNotFound is returned for a missing key, topic or event.
	ErrNotFound = errors.New("ssehub: not found")
	// ErrUnavailable is returned when the store cannot take or serve a
	// request now (a cluster without a leader, a full disk) but may later.
	ErrUnavailable = errors.New("ssehub: store unavailable")
	// ErrConflict is returned by a conditional append (ConditionalAppender)
	// whose condition no longer holds: another writer appended to the
	// topic since the caller read it. Nothing was stored.
	ErrConflict = errors.New("ssehub: the topic changed")
)

// Log is the durable, ordered record of events that the hub streams from.
//
// Ids are global across topics and strictly increasing; after a restart they
// keep increasing from the last id ever assigned, even when retention has
// removed every event. A log that is recreated (a memory store restarted, a
// data directory replaced, a NATS stream deleted) has a new Epoch, so an id
// from the old instance can be told apart from one of the new. A Log is
// safe for concurrent use.
//
// The hub uses a Log in three ways: Append for publishes, Follow for the one
// live feed per node, and Read for catch-up from a client's Last-Event-ID.
type Log interface {
	// Append stores events as one all-or-nothing batch, setting each event's
	// ID and Time, and returns once the batch is durable. Events carrying a
	// Key already seen for the same topic inside the dedupe window are not
	// stored again; their result reports the first id and Duplicate. A
	// batch larger than Capabilities().MaxBatch fails with ErrTooLarge. An
	// event that the store refuses by itself (a field past a store limit)
	// fails only its own Append call, never another caller's events that
	// happen to be committed with it: ErrTooLarge (a field, or a batch
	// larger than the byte retention could ever keep) or ErrInvalidTopic
	// (an empty topic) wrapped with the field it names.
	Append(ctx context.Context, events []*Event) ([]AppendResult, error)

	// Read calls fn, in id order, for each retained event with an id greater
	// than after whose topic f matches, until the last event that existed
	// when Read started, fn returns an error (which Read returns), or ctx is
	// done. A store translates f into its own index, so a read costs about
	// what it returns, not what the log holds. Events are streamed, not
	// loaded into memory at once; fn must neither modify the event nor keep
	// it after it returns unless it copies it. fn may run while the store
	// holds resources other callers need (bolt: a read transaction), so it
	// must not wait on anything slow, such as a client's socket.
	Read(ctx context.Context, after uint64, f Filter, fn func(*Event) error) error

	// Follow calls fn, in id order and from one goroutine, for every event
	// appended with an id greater than after, system events included, until
	// ctx is done or fn returns an error. It is the node's single live feed.
	// Events that retention removed before the follower reached them are
	// skipped (a store may still hand them over from memory); the follower
	// goes on with the oldest retained one.
	// The events it passes are owned by the receiver and never modified
	// afterwards by the log: fn may keep them, and share them, without
	// copying.
	Follow(ctx context.Context, after uint64, fn func(*Event) error) error

	// Bounds returns the log's position: the oldest retained id, the head
	// and the epoch.
	Bounds(ctx context.Context) (Position, error)

	// Capabilities describes what the store promises.
	Capabilities() Capabilities

	// Close releases the log. Appends after Close fail with ErrClosed.
	Close() error
}

// Position is where a log stands.
type Position struct {
	// First is the oldest retained id; with no retained events it is Head+1.
	First uint64
	// Head is the last id ever assigned (0 for a new log).
	Head uint64
	// Epoch names this instance of the log: it is set when the log is
	// created and changes only when it is recreated. It is a short string
	// of letters and digits.
	Epoch string
}

// Capabilities are what a store declares about itself, instead of limits
// that callers would have to guess.
type Capabilities struct {
	// MaxBatch is the most events one Append may hold and still be
	// all-or-nothing.
	MaxBatch int
	// DenseIDs reports that ids have no holes: every id from 1 to Head was
	// assigned to an event. Then an id below First means the events between
	// it and First were removed by retention.
	DenseIDs bool
}

// Retention limits how much history a log keeps. A zero field is no limit.
// System events count like any other. When the bounds apply is the store's
// to say (bolt and memory keep the count and byte bounds at every commit
// and the age bound within about a second); StoreStats reports any lag.
type Retention struct {
	MaxEvents int64
	MaxBytes  int64
	MaxAge    time.Duration
}

// TopicInfo describes one topic of a log.
type TopicInfo struct {
	Topic string
	// Events is the number of retained events of the topic.
	Events int64
	// LastID is the id of the topic's newest retained event (a topic with
	// none retained is not listed).
	LastID uint64
}

// Topics is the per-topic view of a log.
type Topics interface {
	// Topics returns, sorted by name, the topics whose name is greater than
	// after that have retained events, at most limit of them (limit <= 0:
	// all). System topics are not listed.
	Topics(ctx context.Context, after string, limit int) ([]TopicInfo, error)
	// Topic returns one topic's info, or ErrNotFound when the log has no
	// retained event of it (and always for a system topic).
	Topic(ctx context.Context, topic string) (TopicInfo, error)
	// Last returns a copy of the topic's newest retained event, or
	// ErrNotFound (always for a system topic).
	Last(ctx context.Context, topic string) (*Event, error)
}

// KV is a small durable key-value store for the hub's own state (tokens,
// deregistered topics), kept beside the log by each store.
type KV interface {
	// Get returns the value of key in bucket, or ErrNotFound.
	Get(ctx context.Context, bucket, key string) ([]byte, error)
	// Put stores value under key in bucket, durably. An empty key is an
	// error.
	Put(ctx context.Context, bucket, key string, value []byte) error
	// Delete removes key from bucket; deleting a missing key is not an error.
	Delete(ctx context.Context, bucket, key string) error
	// List calls fn for every key of bucket in key order until fn returns an error.
	List(ctx context.Context, bucket string, fn func(key string, value []byte) error) error
}

// A KVSwapper is a KV that changes a key only if it still holds what the
// caller read, as a store that several hub nodes share offers, so that
// nodes writing one key at once agree (on the generated admin token's
// hash, on the first update of a Mercure id).
type KVSwapper interface {
	// CompareAndSwap stores value under key in bucket when the key holds
	// old (nil: when the key is absent); otherwise it stores nothing and
	// returns an error wrapping ErrConflict.
	CompareAndSwap(ctx context.Context, bucket, key string, old, value []byte) error
}

// Store is what a storage driver opens: the log, its per-topic view and the
// hub's key-value state.
type Store interface {
	Log
	Topics
	KV
}

// Health is implemented by stores whose health can change while they run
// (a networked store that lost its servers); /readyz reports it.
type Health interface {
	// Healthy returns nil while the store can serve, else why not.
	Healthy(ctx context.Context) error
}

// StatsReporter is implemented by stores that report their internals for
// /metrics.
type StatsReporter interface {
	// StoreStats returns the store's current figures.
	StoreStats() StoreStats
}

// StoreStats are a store's figures at one moment.
type StoreStats struct {
	// Events and Bytes are what is retained, as retention counts them.
	Events, Bytes int64
	// RetentionLag is how many retained events are past the retention
	// bounds, waiting to be removed.
	RetentionLag int64
}
