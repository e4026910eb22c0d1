// Package memory is an in-memory ssehub.Log for tests and for hubs that
// need no durability (`ssehub serve --store memory`). It is bounded: with
// no retention configured it keeps at most DefaultMaxEvents events and
// DefaultMaxBytes bytes.
package memory

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/ssehub/ssehub"
)

// Bounds applied when Options.Retention sets none.
const (
	DefaultMaxEvents = 1_000_000
	DefaultMaxBytes  = 256 << 20
)

// Options tune a memory log.
type Options struct {
	// Retention bounds the log; zero fields take the defaults above (age: none).
	Retention ssehub.Retention
	// DedupeWindow is how long an idempotency key is remembered; default 2 minutes.
	DedupeWindow time.Duration
}

type dedupeEntry struct {
	id uint64
	at time.Time
}

// Log is an in-memory, bounded ssehub.Log that also implements
// ssehub.Topics and ssehub.KV.
type Log struct {
	opts Options

	mu     sync.RWMutex
	events []*ssehub.Event // ids are contiguous: events[i].ID == events[0].ID+i
	head   uint64
	bytes  int64
	topics map[string]*ssehub.TopicInfo
	dedupe map[string]dedupeEntry
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
	l := &Log{opts: opts, topics: map[string]*ssehub.TopicInfo{}, dedupe: map[string]dedupeEntry{},
		kv: map[string]map[string][]byte{}, notify: make(chan struct{}), done: make(chan struct{})}
	go l.janitor()
	return l
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
			for k, e := range l.dedupe {
				if now.Sub(e.at) > l.opts.DedupeWindow {
					delete(l.dedupe, k)
				}
			}
			l.mu.Unlock()
		}
	}
}

// trimLocked drops the oldest events past the retention limits.
func (l *Log) trimLocked(now time.Time) {
	r := l.opts.Retention
	n := 0
	for n < len(l.events) {
		ev := l.events[n]
		over := int64(len(l.events)-n) > r.MaxEvents || l.bytes > r.MaxBytes ||
			(r.MaxAge > 0 && now.Sub(ev.Time) > r.MaxAge)
		if !over {
			break
		}
		l.bytes -= int64(ev.Size())
		if ti := l.topics[ev.Topic]; ti != nil {
			ti.Events--
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

// Append implements ssehub.Log.
func (l *Log) Append(ctx context.Context, events []*ssehub.Event) ([]ssehub.AppendResult, error) {
	if err := ctx.Err(); err != nil {
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
		ev.Data = append([]byte(nil), in.Data...)
		if in.Meta != nil {
			ev.Meta = append([]byte(nil), in.Meta...)
		}
		in.ID, in.Time = ev.ID, now
		l.events = append(l.events, &ev)
		l.bytes += int64(ev.Size())
		ti := l.topics[ev.Topic]
		if ti == nil {
			ti = &ssehub.TopicInfo{Topic: ev.Topic}
			l.topics[ev.Topic] = ti
		}
		ti.Events++
		ti.LastID = ev.ID
		if dk != "" {
			l.dedupe[dk] = dedupeEntry{id: ev.ID, at: now}
		}
		res[i] = ssehub.AppendResult{ID: ev.ID}
	}
	l.trimLocked(now)
	close(l.notify)
	l.notify = make(chan struct{})
	return res, nil
}

// collect returns up to max events with id > after and id <= upto.
func (l *Log) collect(dst []*ssehub.Event, after, upto uint64, max int) ([]*ssehub.Event, <-chan struct{}, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if len(l.events) > 0 {
		first := l.events[0].ID
		i := 0
		if after >= first {
			i = int(after - first + 1)
		}
		for ; i < len(l.events) && len(dst) < max && l.events[i].ID <= upto; i++ {
			dst = append(dst, l.events[i])
		}
	}
	return dst, l.notify, l.closed
}

const chunk = 1024

// Read implements ssehub.Log.
func (l *Log) Read(ctx context.Context, after uint64, m ssehub.Matcher, fn func(*ssehub.Event) error) error {
	_, upto := l.Bounds()
	var buf []*ssehub.Event
	for after < upto {
		if err := ctx.Err(); err != nil {
			return err
		}
		var closed bool
		buf, _, closed = l.collect(buf[:0], after, upto, chunk)
		if closed {
			return ssehub.ErrClosed
		}
		if len(buf) == 0 {
			return nil
		}
		for _, ev := range buf {
			after = ev.ID
			if m == nil || m.Match(ev.Topic) {
				if err := fn(ev); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Follow implements ssehub.Log.
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
		if first, _ := l.Bounds(); after+1 < first {
			after = first - 1 // retention passed a slow follower
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
func (l *Log) Bounds() (first, head uint64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if len(l.events) == 0 {
		return l.head + 1, l.head
	}
	return l.events[0].ID, l.head
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
func (l *Log) Topics(context.Context) ([]ssehub.TopicInfo, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]ssehub.TopicInfo, 0, len(l.topics))
	for _, t := range l.topics {
		out = append(out, *t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Topic < out[j].Topic })
	return out, nil
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
