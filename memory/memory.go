// Package memory is an in-memory ssehub.Store for tests and for hubs that
// need no durability (`ssehub serve --store memory`). It is bounded: with
// no retention configured it keeps at most DefaultMaxEvents events and
// DefaultMaxBytes bytes, and it remembers at most as many idempotency keys
// as it keeps events.
//
// Importing the package registers the "memory" driver with
// ssehub.RegisterDriver.
package memory

import (
	"container/heap"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ssehub/ssehub"
)

// Bounds applied when Options.Retention sets none, and the default batch
// limit.
const (
	DefaultMaxEvents = 1_000_000
	DefaultMaxBytes  = 256 << 20
	DefaultMaxBatch  = 10_000
)

// MaxKeyLen bounds an idempotency key together with its topic (the two are
// one dedupe key), as the bolt store does, so a hub behaves the same on
// either store.
const MaxKeyLen = 32767

// Options tune a memory log.
type Options struct {
	// Retention bounds the log; zero fields take the defaults above (age: none).
	Retention ssehub.Retention
	// DedupeWindow is how long an idempotency key is remembered; default 2 minutes.
	DedupeWindow time.Duration
	// MaxBatch bounds the events of one Append; default DefaultMaxBatch.
	// Capabilities reports it, lowered to Retention.MaxEvents when that is
	// smaller, so that a batch is always retained whole when it is stored.
	MaxBatch int
}

type dedupeEntry struct {
	id uint64
	at time.Time
}

// keyAt is a dedupe key in the order it was remembered.
type keyAt struct {
	key string
	at  time.Time
}

// topicState holds one topic's retained events, oldest first.
type topicState struct {
	info  ssehub.TopicInfo
	evs   []*ssehub.Event
	start int // evs[:start] were removed by retention
}

func (ts *topicState) retained() []*ssehub.Event { return ts.evs[ts.start:] }

// Log is an in-memory, bounded ssehub.Store; it also implements
// ssehub.StatsReporter.
type Log struct {
	opts     Options
	maxBatch int
	epoch    string

	mu     sync.RWMutex
	events []*ssehub.Event // ids are contiguous: events[i].ID == events[0].ID+i
	head   uint64
	bytes  int64
	topics map[string]*topicState // system topics are not kept here
	names  names                  // the keys of topics, sorted
	dedupe map[string]dedupeEntry
	keys   []keyAt // dedupe keys, oldest first; entries may be stale
	kv     map[string]map[string][]byte
	notify chan struct{} // closed and replaced on every append
	closed bool
	done   chan struct{}
}

// New returns an empty memory log.
func New(opts Options) *Log {
	if opts.Retention.MaxEvents <= 0 {
		opts.Retention.MaxEvents = DefaultMaxEvents
	}
	if opts.Retention.MaxBytes <= 0 {
		opts.Retention.MaxBytes = DefaultMaxBytes
	}
	if opts.DedupeWindow <= 0 {
		opts.DedupeWindow = 2 * time.Minute
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	l := &Log{opts: opts, maxBatch: int(min(int64(opts.MaxBatch), opts.Retention.MaxEvents)), epoch: newEpoch(),
		topics: map[string]*topicState{}, dedupe: map[string]dedupeEntry{},
		kv: map[string]map[string][]byte{}, notify: make(chan struct{}), done: make(chan struct{})}
	go l.janitor()
	return l
}

// newEpoch returns 12 random letters and digits.
func newEpoch() string { return strings.ToLower(rand.Text()[:12]) }

func init() {
	ssehub.RegisterDriver(ssehub.Driver{
		Name:    "memory",
		Summary: "in memory, bounded, lost on exit (tests, development)",
		Open: func(_ context.Context, cfg ssehub.StoreConfig) (ssehub.Store, error) {
			if err := validate(cfg); err != nil {
				return nil, err
			}
			return New(Options{Retention: cfg.Retention, DedupeWindow: cfg.DedupeWindow}), nil
		},
		Validate: validate,
		Describe: func(cfg ssehub.StoreConfig) string {
			r := cfg.Retention
			if r.MaxEvents <= 0 {
				r.MaxEvents = DefaultMaxEvents
			}
			if r.MaxBytes <= 0 {
				r.MaxBytes = DefaultMaxBytes
			}
			return fmt.Sprintf("memory (at most %d events, %d bytes; lost on exit)", r.MaxEvents, r.MaxBytes)
		},
	})
}

// validate rejects a storage.memory section: the store has no settings.
func validate(cfg ssehub.StoreConfig) error {
	if cfg.Settings != nil {
		var none struct{}
		if err := cfg.Settings(&none); err != nil {
			return fmt.Errorf("storage.memory: %w", err)
		}
	}
	return nil
}

// janitor applies age retention and forgets expired idempotency keys.
func (l *Log) janitor() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-l.done:
			return
		case now := <-t.C:
			l.mu.Lock()
			l.trimLocked(now)
			l.expireKeysLocked(now)
			l.mu.Unlock()
		}
	}
}

// expireKeysLocked forgets keys older than the window, and the oldest keys
// past MaxEvents of them, so the map is bounded like the log.
func (l *Log) expireKeysLocked(now time.Time) {
	n := 0
	for n < len(l.keys) {
		k := l.keys[n]
		if now.Sub(k.at) <= l.opts.DedupeWindow && int64(len(l.keys)-n) <= l.opts.Retention.MaxEvents {
			break
		}
		if e, ok := l.dedupe[k.key]; ok && e.at.Equal(k.at) {
			delete(l.dedupe, k.key)
		}
		l.keys[n] = keyAt{}
		n++
	}
	if n > 0 {
		l.keys = l.keys[n:]
		if cap(l.keys) > 2*len(l.keys)+1024 {
			l.keys = append([]keyAt(nil), l.keys...)
		}
	}
}

// over reports whether the event at events[n] is past a bound, given that
// events[:n] are removed.
func (l *Log) over(n int, bytes int64, now time.Time) bool {
	r := l.opts.Retention
	return int64(len(l.events)-n) > r.MaxEvents || bytes > r.MaxBytes ||
		(r.MaxAge > 0 && now.Sub(l.events[n].Time) > r.MaxAge)
}

// trimLocked drops the oldest events past the retention limits.
func (l *Log) trimLocked(now time.Time) {
	n := 0
	for n < len(l.events) && l.over(n, l.bytes, now) {
		ev := l.events[n]
		l.bytes -= int64(ev.Size())
		if ts := l.topics[ev.Topic]; ts != nil {
			ts.evs[ts.start] = nil
			ts.start++
			ts.info.Events--
			if ts.info.Events == 0 {
				delete(l.topics, ev.Topic)
				l.names.remove(ev.Topic)
			} else if ts.start > 64 && ts.start > len(ts.evs)/2 {
				ts.evs = append([]*ssehub.Event(nil), ts.evs[ts.start:]...)
				ts.start = 0
			}
		}
		l.events[n] = nil
		n++
	}
	if n > 0 {
		l.events = l.events[n:]
		if cap(l.events) > 2*len(l.events)+1024 {
			l.events = append([]*ssehub.Event(nil), l.events...)
		}
	}
}

// owned returns a copy of b whose capacity is its length, so no receiver
// can append into bytes another one holds.
func owned(b []byte) []byte {
	if b == nil {
		return nil
	}
	c := make([]byte, len(b))
	copy(c, b)
	return c
}

// check refuses what the store never keeps, before anything is stored.
func (l *Log) check(events []*ssehub.Event) error {
	if len(events) > l.maxBatch {
		return fmt.Errorf("%w: a batch holds at most %d events, this one %d", ssehub.ErrTooLarge, l.maxBatch, len(events))
	}
	var size int64
	for i, e := range events {
		if e.Key != "" && len(e.Topic)+1+len(e.Key) > MaxKeyLen {
			return fmt.Errorf("%w: event %d: idempotency key of %d bytes (with its topic, %d) is longer than %d bytes",
				ssehub.ErrTooLarge, i, len(e.Key), len(e.Topic)+1+len(e.Key), MaxKeyLen)
		}
		size += int64(e.Size())
	}
	if size > l.opts.Retention.MaxBytes {
		return fmt.Errorf("%w: the batch takes %d bytes, more than the retained maximum of %d",
			ssehub.ErrTooLarge, size, l.opts.Retention.MaxBytes)
	}
	return nil
}

// Append implements ssehub.Log. Count and byte retention are applied
// before it returns, so the bounds hold after every Append.
func (l *Log) Append(ctx context.Context, events []*ssehub.Event) ([]ssehub.AppendResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := l.check(events); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ssehub.ErrClosed
	}
	now := time.Now().UTC()
	res := make([]ssehub.AppendResult, len(events))
	for i, in := range events {
		var dk string
		if in.Key != "" {
			dk = in.Topic + "\x00" + in.Key
			if e, ok := l.dedupe[dk]; ok && now.Sub(e.at) <= l.opts.DedupeWindow {
				res[i] = ssehub.AppendResult{ID: e.id, Duplicate: true}
				continue
			}
		}
		ev := *in
		l.head++
		ev.ID, ev.Time = l.head, now
		ev.Data, ev.Meta = owned(in.Data), owned(in.Meta)
		in.ID, in.Time = ev.ID, now
		l.events = append(l.events, &ev)
		l.bytes += int64(ev.Size())
		if !ssehub.IsSys(ev.Topic) {
			ts := l.topics[ev.Topic]
			if ts == nil {
				ts = &topicState{info: ssehub.TopicInfo{Topic: ev.Topic}}
				l.topics[ev.Topic] = ts
				l.names.add(ev.Topic)
			}
			ts.evs = append(ts.evs, &ev)
			ts.info.Events++
			ts.info.LastID = ev.ID
		}
		if dk != "" {
			l.dedupe[dk] = dedupeEntry{id: ev.ID, at: now}
			l.keys = append(l.keys, keyAt{dk, now})
		}
		res[i] = ssehub.AppendResult{ID: ev.ID}
	}
	l.trimLocked(now)
	if int64(len(l.keys)) > l.opts.Retention.MaxEvents {
		l.expireKeysLocked(now)
	}
	close(l.notify)
	l.notify = make(chan struct{})
	return res, nil
}

// collect returns up to max events with after < id <= upto, system events
// included.
func (l *Log) collect(dst []*ssehub.Event, after, upto uint64, max int) ([]*ssehub.Event, <-chan struct{}, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if len(l.events) > 0 {
		first := l.events[0].ID
		i := 0
		if after >= first {
			i = int(min(after-first+1, uint64(len(l.events))))
		}
		for ; i < len(l.events) && len(dst) < max && l.events[i].ID <= upto; i++ {
			dst = append(dst, l.events[i])
		}
	}
	return dst, l.notify, l.closed
}

const chunk = 1024

// mergeTopicsMax bounds the topics a filtered Read merges; a filter that
// matches more, or whose topics hold a quarter of the log or more, is read
// by scanning the whole log instead. Both give the same events.
const mergeTopicsMax = 256

// Read implements ssehub.Log. The event passed to fn is valid until fn
// returns.
func (l *Log) Read(ctx context.Context, after uint64, f ssehub.Filter, fn func(*ssehub.Event) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if f.IsEmpty() {
		return nil
	}
	l.mu.RLock()
	upto := l.head
	var topics []string
	scan := f.IsAll()
	if !scan {
		topics, scan = l.matchingLocked(f)
	}
	l.mu.RUnlock()
	var buf []*ssehub.Event
	for after < upto {
		if err := ctx.Err(); err != nil {
			return err
		}
		var closed bool
		if scan {
			buf, _, closed = l.collect(buf[:0], after, upto, chunk)
		} else {
			buf, closed = l.merge(buf[:0], topics, after, upto, chunk)
		}
		if closed {
			return ssehub.ErrClosed
		}
		if len(buf) == 0 {
			return nil
		}
		for _, ev := range buf {
			after = ev.ID
			if scan && !f.Match(ev.Topic) {
				continue
			}
			cp := *ev // fn may not change the stored event's fields
			if err := fn(&cp); err != nil {
				return err
			}
		}
	}
	return nil
}

// matchingLocked returns the topics f matches, or scan when reading the
// whole log is cheaper.
func (l *Log) matchingLocked(f ssehub.Filter) (topics []string, scan bool) {
	var events int
	for _, p := range f.Patterns() {
		if p.Exact() {
			if ts := l.topics[p.String()]; ts != nil {
				topics = append(topics, p.String())
				events += int(ts.info.Events)
			}
			continue
		}
		prefix := strings.TrimSuffix(p.String(), "*")
		l.names.from(prefix, func(name string) bool {
			if !strings.HasPrefix(name, prefix) {
				return false
			}
			topics = append(topics, name)
			events += int(l.topics[name].info.Events)
			return len(topics) <= mergeTopicsMax
		})
		if len(topics) > mergeTopicsMax {
			return nil, true
		}
	}
	return topics, len(topics) > 1 && events*4 >= len(l.events)
}

// cursor is one topic's position in a merge.
type cursor struct {
	evs []*ssehub.Event
	i   int
}

type cursorHeap []*cursor

func (h cursorHeap) Len() int           { return len(h) }
func (h cursorHeap) Less(i, j int) bool { return h[i].evs[h[i].i].ID < h[j].evs[h[j].i].ID }
func (h cursorHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *cursorHeap) Push(x any)        { *h = append(*h, x.(*cursor)) }
func (h *cursorHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

// merge returns up to max events of topics with after < id <= upto, in id
// order, from the topics' own lists.
func (l *Log) merge(dst []*ssehub.Event, topics []string, after, upto uint64, max int) ([]*ssehub.Event, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	h := make(cursorHeap, 0, len(topics))
	for _, t := range topics {
		ts := l.topics[t]
		if ts == nil {
			continue
		}
		evs := ts.retained()
		i := sort.Search(len(evs), func(i int) bool { return evs[i].ID > after })
		if i < len(evs) && evs[i].ID <= upto {
			h = append(h, &cursor{evs: evs, i: i})
		}
	}
	heap.Init(&h)
	for len(h) > 0 && len(dst) < max {
		c := h[0]
		dst = append(dst, c.evs[c.i])
		c.i++
		if c.i < len(c.evs) && c.evs[c.i].ID <= upto {
			heap.Fix(&h, 0)
		} else {
			heap.Pop(&h)
		}
	}
	return dst, l.closed
}

// Follow implements ssehub.Log. The events it passes are the store's own,
// which it never changes: Data and Meta were copied on Append, with no
// spare capacity for a receiver to append into.
func (l *Log) Follow(ctx context.Context, after uint64, fn func(*ssehub.Event) error) error {
	var buf []*ssehub.Event
	for {
		var notify <-chan struct{}
		var closed bool
		buf, notify, closed = l.collect(buf[:0], after, ^uint64(0), chunk)
		if closed {
			return ssehub.ErrClosed
		}
		for _, ev := range buf {
			if err := fn(ev); err != nil {
				return err
			}
			after = ev.ID
		}
		if len(buf) > 0 {
			continue
		}
		if p, _ := l.Bounds(ctx); after+1 < p.First {
			after = p.First - 1 // retention passed a slow follower
			continue
		}
		select {
		case <-notify:
		case <-ctx.Done():
			return ctx.Err()
		case <-l.done:
			return ssehub.ErrClosed
		}
	}
}

// Bounds implements ssehub.Log.
func (l *Log) Bounds(context.Context) (ssehub.Position, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	p := ssehub.Position{First: l.head + 1, Head: l.head, Epoch: l.epoch}
	if len(l.events) > 0 {
		p.First = l.events[0].ID
	}
	return p, nil
}

// Capabilities implements ssehub.Log.
func (l *Log) Capabilities() ssehub.Capabilities {
	return ssehub.Capabilities{MaxBatch: l.maxBatch, DenseIDs: true}
}

// StoreStats implements ssehub.StatsReporter. Count and byte retention are
// exact on Append, so only events past MaxAge that the janitor (once a
// second) has not removed yet make a lag.
func (l *Log) StoreStats() ssehub.StoreStats {
	now := time.Now()
	l.mu.RLock()
	defer l.mu.RUnlock()
	st := ssehub.StoreStats{Events: int64(len(l.events)), Bytes: l.bytes}
	if r := l.opts.Retention; r.MaxAge > 0 {
		st.RetentionLag = int64(sort.Search(len(l.events), func(i int) bool { return now.Sub(l.events[i].Time) <= r.MaxAge }))
	}
	st.RetentionLag = max(st.RetentionLag, st.Events-l.opts.Retention.MaxEvents)
	return st
}

// Close implements ssehub.Log.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.closed = true
		close(l.done)
	}
	return nil
}

// Topics implements ssehub.Topics.
func (l *Log) Topics(_ context.Context, after string, limit int) ([]ssehub.TopicInfo, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []ssehub.TopicInfo
	l.names.after(after, func(name string) bool {
		out = append(out, l.topics[name].info)
		return limit <= 0 || len(out) < limit
	})
	return out, nil
}

// Topic implements ssehub.Topics.
func (l *Log) Topic(_ context.Context, topic string) (ssehub.TopicInfo, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if ts := l.topics[topic]; ts != nil {
		return ts.info, nil
	}
	return ssehub.TopicInfo{}, ssehub.ErrNotFound
}

// Last implements ssehub.Topics.
func (l *Log) Last(_ context.Context, topic string) (*ssehub.Event, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	ts := l.topics[topic]
	if ts == nil {
		return nil, ssehub.ErrNotFound
	}
	e := *ts.evs[len(ts.evs)-1]
	e.Data, e.Meta = owned(e.Data), owned(e.Meta)
	return &e, nil
}

// Get implements ssehub.KV.
func (l *Log) Get(_ context.Context, bucket, key string) ([]byte, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	v, ok := l.kv[bucket][key]
	if !ok {
		return nil, ssehub.ErrNotFound
	}
	return append([]byte(nil), v...), nil
}

// Put implements ssehub.KV.
func (l *Log) Put(_ context.Context, bucket, key string, value []byte) error {
	if key == "" {
		return errors.New("memory: an empty KV key")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.kv[bucket]
	if b == nil {
		b = map[string][]byte{}
		l.kv[bucket] = b
	}
	b[key] = append([]byte(nil), value...)
	return nil
}

// Delete implements ssehub.KV.
func (l *Log) Delete(_ context.Context, bucket, key string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.kv[bucket], key)
	return nil
}

// List implements ssehub.KV.
func (l *Log) List(_ context.Context, bucket string, fn func(key string, value []byte) error) error {
	l.mu.RLock()
	keys := make([]string, 0, len(l.kv[bucket]))
	for k := range l.kv[bucket] {
		keys = append(keys, k)
	}
	vals := make([][]byte, len(keys))
	sort.Strings(keys)
	for i, k := range keys {
		vals[i] = append([]byte(nil), l.kv[bucket][k]...)
	}
	l.mu.RUnlock()
	for i, k := range keys {
		if err := fn(k, vals[i]); err != nil {
			return err
		}
	}
	return nil
}

var (
	_ ssehub.Store         = (*Log)(nil)
	_ ssehub.StatsReporter = (*Log)(nil)
)
