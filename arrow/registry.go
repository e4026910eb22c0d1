package arrow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/format"
)

// KV buckets of the registry.
const (
	// SchemasBucket maps a fingerprint to its schema's IPC stream.
	SchemasBucket = "arrow_schemas"
	// TopicsBucket maps a topic to its current schema:
	// {"schema":"<fingerprint>","since":"<id>"}.
	TopicsBucket = "arrow_topics"
	// ChangesBucket maps a topic to the list of its schema changes,
	// oldest first: [{"id":"<id>","schema":"<fingerprint>"},…].
	ChangesBucket = "arrow_schema_changes"
)

// MaxChanges bounds the schema changes kept per topic; older ones are
// dropped from the list (the events keep their schemas).
const MaxChanges = 1000

// Current is a topic's current schema.
type Current struct {
	Topic  string
	Schema *Schema
	// Since is the id of the first event of the schema's latest run.
	Since uint64
}

// Change is one schema change of a topic: from event ID on, its batches
// have the schema of Fingerprint (the first ingest is a change too).
type Change struct {
	ID          uint64
	Fingerprint string
}

// Registry keeps the schema of every Arrow topic in the store's KV, so that
// every hub node over the store sees it: the current schema per topic, the
// schemas by fingerprint, and each topic's changes with the ids they start
// at. It serializes a topic's ingests only around a schema change, so that
// the recorded starting ids follow the log's order while ingests of the
// current schema commit together. A Registry is safe for concurrent use.
type Registry struct {
	store  ssehub.Store
	logger *slog.Logger

	mu      sync.Mutex
	topics  map[string]*topicState
	schemas map[string]*Schema // by fingerprint; immutable
	// schemaBytes is the IPC bytes of schemas (maxCacheBytes bounds it).
	schemaBytes int
}

type topicState struct {
	mu     sync.RWMutex
	loaded bool
	cur    *Schema // nil: no schema yet
	since  uint64
}

// NewRegistry returns the registry kept in store's KV.
func NewRegistry(store ssehub.Store, logger *slog.Logger) *Registry {
	if logger == nil {
		logger = slog.Default()
	}
	return &Registry{store: store, logger: logger, topics: map[string]*topicState{}, schemas: map[string]*Schema{}}
}

type topicRecord struct {
	Schema string `json:"schema"`
	Since  string `json:"since"`
}

type changeRecord struct {
	ID     string `json:"id"`
	Schema string `json:"schema"`
}

// Schema returns the schema with fingerprint fp, or an error wrapping
// ssehub.ErrNotFound.
func (r *Registry) Schema(ctx context.Context, fp string) (*Schema, error) {
	r.mu.Lock()
	s, ok := r.schemas[fp]
	r.mu.Unlock()
	if ok {
		return s, nil
	}
	b, err := r.store.Get(ctx, SchemasBucket, fp)
	if err != nil {
		return nil, fmt.Errorf("arrow: schema %s: %w", fp, err)
	}
	if s, err = DecodeSchema(b); err != nil {
		return nil, fmt.Errorf("arrow: stored schema %s: %w", fp, err)
	}
	r.remember(s)
	return s, nil
}

func (r *Registry) remember(s *Schema) {
	r.mu.Lock()
	if _, ok := r.schemas[s.Fingerprint]; !ok {
		if len(r.schemas) >= maxFrames || r.schemaBytes+len(s.IPC) > maxCacheBytes {
			clear(r.schemas)
			r.schemaBytes = 0
		}
		r.schemaBytes += len(s.IPC)
	}
	r.schemas[s.Fingerprint] = s
	r.mu.Unlock()
}

// Current returns topic's current schema as the store's KV records it;
// false when the topic has none (it is not an Arrow topic).
func (r *Registry) Current(ctx context.Context, topic string) (Current, bool, error) {
	b, err := r.store.Get(ctx, TopicsBucket, topic)
	if errors.Is(err, ssehub.ErrNotFound) {
		return Current{}, false, nil
	}
	if err != nil {
		return Current{}, false, fmt.Errorf("arrow: topic %s: %w", topic, err)
	}
	return r.decodeCurrent(ctx, topic, b)
}

func (r *Registry) decodeCurrent(ctx context.Context, topic string, b []byte) (Current, bool, error) {
	var rec topicRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return Current{}, false, fmt.Errorf("arrow: topic %s: bad record: %w", topic, err)
	}
	s, err := r.Schema(ctx, rec.Schema)
	if err != nil {
		return Current{}, false, err
	}
	since, _ := strconv.ParseUint(rec.Since, 10, 64)
	return Current{Topic: topic, Schema: s, Since: since}, true, nil
}

// Matching returns the current schemas of the Arrow topics f matches,
// sorted by topic.
func (r *Registry) Matching(ctx context.Context, f ssehub.Filter) ([]Current, error) {
	if f.IsEmpty() {
		return nil, nil
	}
	var out []Current
	if exact := f.ExactTopics(); len(exact) == f.Len() {
		for _, t := range exact {
			c, ok, err := r.Current(ctx, t)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, c)
			}
		}
		return out, nil
	}
	err := r.store.List(ctx, TopicsBucket, func(topic string, b []byte) error {
		if !f.Match(topic) {
			return nil
		}
		c, ok, err := r.decodeCurrent(ctx, topic, b)
		if err != nil {
			return err
		}
		if ok {
			out = append(out, c)
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Topic < out[j].Topic })
	return out, err
}

// Changes returns topic's schema changes, oldest first (at most MaxChanges).
func (r *Registry) Changes(ctx context.Context, topic string) ([]Change, error) {
	b, err := r.store.Get(ctx, ChangesBucket, topic)
	if errors.Is(err, ssehub.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("arrow: changes of %s: %w", topic, err)
	}
	var recs []changeRecord
	if err := json.Unmarshal(b, &recs); err != nil {
		return nil, fmt.Errorf("arrow: changes of %s: bad record: %w", topic, err)
	}
	out := make([]Change, 0, len(recs))
	for _, c := range recs {
		id, _ := strconv.ParseUint(c.ID, 10, 64)
		out = append(out, Change{ID: id, Fingerprint: c.Schema})
	}
	return out, nil
}

func (r *Registry) state(topic string) *topicState {
	r.mu.Lock()
	defer r.mu.Unlock()
	ts := r.topics[topic]
	if ts == nil {
		ts = &topicState{}
		r.topics[topic] = ts
	}
	return ts
}

// Topic returns topic's current schema as this node knows it (nil for a
// topic without one): the schema JSON rows are converted with.
func (r *Registry) Topic(ctx context.Context, topic string) (*Schema, error) {
	ts := r.state(topic)
	ts.mu.RLock()
	if ts.loaded {
		defer ts.mu.RUnlock()
		return ts.cur, nil
	}
	ts.mu.RUnlock()
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if err := r.load(ctx, topic, ts); err != nil {
		return nil, err
	}
	return ts.cur, nil
}

// load reads topic's current schema from the KV, with ts.mu held, and
// repairs the record when the log holds batches that a crash between their
// append and the registry's update left unrecorded.
func (r *Registry) load(ctx context.Context, topic string, ts *topicState) error {
	if ts.loaded {
		return nil
	}
	c, ok, err := r.Current(ctx, topic)
	if err != nil {
		return err
	}
	if ok {
		ts.cur, ts.since = c.Schema, c.Since
	}
	last, err := r.store.Last(ctx, topic)
	switch {
	case errors.Is(err, ssehub.ErrNotFound):
	case err != nil:
		return fmt.Errorf("arrow: last event of %s: %w", topic, err)
	default:
		if fp, isArrow := FingerprintOf(last); isArrow && (ts.cur == nil || string(fp) != ts.cur.Fingerprint) {
			if err := r.repair(ctx, topic, ts); err != nil {
				return err
			}
		}
	}
	ts.loaded = true
	return nil
}

// repair records the schema changes of topic's batches after ts.since that
// the registry missed.
func (r *Registry) repair(ctx context.Context, topic string, ts *topicState) error {
	cur := ""
	if ts.cur != nil {
		cur = ts.cur.Fingerprint
	}
	var found []Change
	err := r.store.Read(ctx, ts.since, ssehub.MustFilter(topic), func(ev *ssehub.Event) error {
		fp, ok := FingerprintOf(ev)
		if ok && string(fp) != cur {
			cur = string(fp)
			found = append(found, Change{ID: ev.ID, Fingerprint: cur})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("arrow: repair %s: %w", topic, err)
	}
	for _, c := range found {
		s, err := r.Schema(ctx, c.Fingerprint)
		if err != nil {
			return err
		}
		if err := r.record(ctx, topic, ts, s, c.ID); err != nil {
			return err
		}
	}
	r.logger.Warn("arrow: recorded schema changes the registry had missed", "topic", topic, "changes", len(found))
	return nil
}

// AppendFunc appends a topic's events and returns the first one's result.
type AppendFunc func(ctx context.Context) (ssehub.AppendResult, error)

// Publish appends the events of one ingest of topic, whose schema is s,
// with appendFn, and records a schema change when s is not the topic's
// current schema. Ingests of the current schema run concurrently (so the
// store commits them together); a change waits for those in flight and
// holds the others until it is recorded with the id it starts at. It
// reports whether s changed the topic's schema.
func (r *Registry) Publish(ctx context.Context, topic string, s *Schema, appendFn AppendFunc) (bool, error) {
	ts := r.state(topic)
	ts.mu.RLock()
	if ts.loaded && ts.cur != nil && ts.cur.Fingerprint == s.Fingerprint {
		defer ts.mu.RUnlock()
		_, err := appendFn(ctx)
		return false, err
	}
	ts.mu.RUnlock()

	ts.mu.Lock()
	defer ts.mu.Unlock()
	if err := r.load(ctx, topic, ts); err != nil {
		return false, err
	}
	if ts.cur != nil && ts.cur.Fingerprint == s.Fingerprint {
		_, err := appendFn(ctx)
		return false, err
	}
	// The schema first, so that every event in the log has its schema in
	// the KV; the change after the append, with the id it starts at.
	if err := r.store.Put(ctx, SchemasBucket, s.Fingerprint, s.IPC); err != nil {
		return false, fmt.Errorf("arrow: store schema: %w", err)
	}
	r.remember(s)
	res, err := appendFn(ctx)
	if err != nil {
		return false, err
	}
	if res.Duplicate {
		return false, nil
	}
	if err := r.record(ctx, topic, ts, s, res.ID); err != nil {
		// The events are stored: the next load repairs the record.
		ts.loaded = false
		r.logger.Error("arrow: recording a schema change failed", "topic", topic, "id", res.ID, "err", err)
	}
	return true, nil
}

// record stores that topic's schema is s from event id on, with ts.mu held.
func (r *Registry) record(ctx context.Context, topic string, ts *topicState, s *Schema, id uint64) error {
	changes, err := r.Changes(ctx, topic)
	if err != nil {
		return err
	}
	changes = append(changes, Change{ID: id, Fingerprint: s.Fingerprint})
	if len(changes) > MaxChanges {
		changes = changes[len(changes)-MaxChanges:]
	}
	recs := make([]changeRecord, len(changes))
	for i, c := range changes {
		recs[i] = changeRecord{ID: strconv.FormatUint(c.ID, 10), Schema: c.Fingerprint}
	}
	b, _ := json.Marshal(recs)
	if err := r.store.Put(ctx, ChangesBucket, topic, b); err != nil {
		return fmt.Errorf("arrow: store schema changes: %w", err)
	}
	b, _ = json.Marshal(topicRecord{Schema: s.Fingerprint, Since: strconv.FormatUint(id, 10)})
	if err := r.store.Put(ctx, TopicsBucket, topic, b); err != nil {
		return fmt.Errorf("arrow: store current schema: %w", err)
	}
	ts.cur, ts.since = s, id
	return nil
}

// The format finds the current schemas of a connection's topics in the
// registries attached here: the format is one value registered for the
// whole process, and format.SessionInfo does not say which hub a session
// belongs to. A process runs one hub; tests that run several keep their
// topics apart.
var (
	attachedMu sync.RWMutex
	attached   []*Registry
)

// Attach makes the arrow format send r's current schemas to new
// connections; the returned function detaches it.
func Attach(r *Registry) (detach func()) {
	attachedMu.Lock()
	attached = append(attached, r)
	attachedMu.Unlock()
	return func() {
		attachedMu.Lock()
		defer attachedMu.Unlock()
		for i, a := range attached {
			if a == r {
				attached = append(attached[:i:i], attached[i+1:]...)
				return
			}
		}
	}
}

// matchingAll returns the current schemas of info's topics in every
// attached registry, one per topic, sorted by topic.
func matchingAll(info format.SessionInfo) []Current {
	attachedMu.RLock()
	regs := append([]*Registry(nil), attached...)
	attachedMu.RUnlock()
	ctx := info.Context
	if ctx == nil {
		ctx = context.Background()
	}
	var out []Current
	seen := map[string]bool{}
	for _, r := range regs {
		cs, err := r.Matching(ctx, info.Filter)
		if err != nil {
			r.logger.Error("arrow: current schemas for a new stream", "filter", info.Filter.String(), "err", err)
		}
		for _, c := range cs {
			if !seen[c.Topic] {
				seen[c.Topic] = true
				out = append(out, c)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Topic < out[j].Topic })
	return out
}
