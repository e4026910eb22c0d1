package durable

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/hub"
)

// entry is one stream's state on this node. mu serializes every change
// of the stream: a create, a delete, a batch of appends (validation and
// commit, so a producer's requests are checked and committed one after
// another). smu guards st, changed and dropped for readers, who take only
// a snapshot under it and never wait for a commit; a change writes them
// holding both.
type entry struct {
	mu      sync.Mutex
	smu     sync.RWMutex
	name    string
	topic   string
	loaded  atomic.Bool
	dropped bool // removed from the registry: look the name up again
	st      state
	changed chan struct{} // closed and replaced at every change
	// touched is when a read or write last reset the TTL (Unix ns), kept
	// apart from st so readers can set it under smu's read lock.
	touched atomic.Int64
	// refreshed is when the state was last brought up to the log (Unix ns).
	refreshed atomic.Int64
	// used is when a request last looked the stream up (Unix ns), for
	// evicting the least recently used when the registry is full.
	used atomic.Int64
}

// notify wakes every reader waiting for a change; mu and smu are held.
func (e *entry) notify() {
	close(e.changed)
	e.changed = make(chan struct{})
}

// touch resets the TTL countdown.
func (e *entry) touch(now time.Time) {
	n := now.UnixNano()
	for {
		old := e.touched.Load()
		if old >= n || e.touched.CompareAndSwap(old, n) {
			return
		}
	}
}

// lastAccess is when the stream was last read or written.
func (e *entry) lastAccess() time.Time {
	t := e.st.lastAccess
	if n := e.touched.Load(); n > t.UnixNano() {
		return time.Unix(0, n)
	}
	return t
}

// registry holds the entries of the streams that exist (and, while one is
// locked, of a name being looked up).
type registry struct {
	hub *hub.Hub
	log *slog.Logger
	now func() time.Time
	// every, when positive, is how stale a reader's view of a stream may
	// get before it is brought up to the log (Options.Refresh).
	every time.Duration
	// max, when positive, bounds the streams whose state is kept
	// (Options.MaxCachedStreams); past it the least recently used idle
	// ones are dropped, to be loaded again from the log when next used.
	max      int
	evicting atomic.Bool
	mu       sync.Mutex
	m        map[string]*entry
	// queues are the appends waiting, by stream name (append.go).
	queues map[string]*queue
}

func newRegistry(h *hub.Hub) *registry {
	return &registry{hub: h, log: slog.Default(), now: time.Now, m: map[string]*entry{}, queues: map[string]*queue{}}
}

// lock returns name's entry, locked and loaded from the log. Release it
// with unlock. A stream whose TTL or expiry passed is deleted here, as the
// first thing anyone sees of it.
func (r *registry) lock(ctx context.Context, name, topic string) (*entry, error) {
	for {
		r.mu.Lock()
		e := r.m[name]
		if e == nil {
			e = &entry{name: name, topic: topic, changed: make(chan struct{})}
			r.m[name] = e
		}
		full := r.max > 0 && len(r.m) > r.max+r.max/10
		r.mu.Unlock()
		e.used.Store(time.Now().UnixNano())
		if full && r.evicting.CompareAndSwap(false, true) {
			r.evict(e)
			r.evicting.Store(false)
		}
		e.mu.Lock()
		if e.dropped {
			e.mu.Unlock()
			continue
		}
		if !e.loaded.Load() {
			if err := r.load(ctx, e); err != nil {
				r.unlock(e)
				return nil, err
			}
		} else if lastMarker, err := r.refresh(ctx, e); err != nil {
			r.unlock(e)
			return nil, fmt.Errorf("stream %q: %w", name, err)
		} else if lastMarker > 0 {
			if err := r.saveCheckpoint(ctx, e, e.st.applied); err != nil {
				r.log.Warn("durable streams: checkpoint not written", "stream", name, "err", err)
			}
		}
		if e.st.exists && !e.st.softDeleted && e.st.expired(r.now(), e.lastAccess()) {
			if err := r.remove(ctx, e); err != nil {
				r.unlock(e)
				return nil, err
			}
		}
		return e, nil
	}
}

// evict drops the least recently used entries until the registry holds
// r.max, skipping keep and any entry that is busy (locked by a request, or
// with appends queued). A reader waiting on a dropped entry is woken and
// looks the stream up again, which loads it from the log.
func (r *registry) evict(keep *entry) {
	r.mu.Lock()
	all := make([]*entry, 0, len(r.m))
	for name, e := range r.m {
		if e != keep && e.loaded.Load() && r.queues[name] == nil {
			all = append(all, e)
		}
	}
	n := len(r.m) - r.max
	r.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return all[i].used.Load() < all[j].used.Load() })
	for _, e := range all {
		if n <= 0 {
			return
		}
		if !e.mu.TryLock() {
			continue
		}
		r.mu.Lock()
		if r.m[e.name] == e && r.queues[e.name] == nil {
			delete(r.m, e.name)
			n--
			r.mu.Unlock()
			e.smu.Lock()
			e.dropped = true
			e.notify()
			e.smu.Unlock()
		} else {
			r.mu.Unlock()
		}
		e.mu.Unlock()
	}
}

// cached returns how many streams' state the registry holds.
func (r *registry) cached() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.m)
}

// unlock releases e, dropping it from the registry when its stream does
// not exist.
func (r *registry) unlock(e *entry) {
	if !e.st.exists {
		r.mu.Lock()
		if r.m[e.name] == e {
			delete(r.m, e.name)
		}
		r.mu.Unlock()
		e.smu.Lock()
		e.dropped = true
		e.notify()
		e.smu.Unlock()
	}
	e.mu.Unlock()
}

// view returns a snapshot of name's stream without waiting for a change in
// flight: under the read lock when the entry is loaded and the stream not
// expired, else through lock. touch resets the TTL.
func (r *registry) view(ctx context.Context, name, topic string, touch bool) (snapshot, error) {
	r.mu.Lock()
	e := r.m[name]
	r.mu.Unlock()
	if e != nil {
		e.used.Store(time.Now().UnixNano())
	}
	if e != nil && e.loaded.Load() && (r.every <= 0 || time.Now().UnixNano()-e.refreshed.Load() < int64(r.every)) {
		now := r.now()
		e.smu.RLock()
		ok := !e.dropped && (!e.st.exists || e.st.softDeleted || !e.st.expired(now, e.lastAccess()))
		var sn snapshot
		if ok {
			sn = e.snapshot()
			if touch && sn.exists && !sn.softDeleted {
				e.touch(now)
			}
		}
		e.smu.RUnlock()
		if ok {
			return sn, nil
		}
	}
	e, err := r.lock(ctx, name, topic)
	if err != nil {
		return snapshot{}, err
	}
	defer r.unlock(e)
	sn := e.snapshot()
	if touch && sn.exists && !sn.softDeleted {
		e.touch(r.now())
	}
	return sn, nil
}

// snapshot copies what readers need of the state; smu (or mu) is held.
func (e *entry) snapshot() snapshot {
	st := &e.st
	return snapshot{exists: st.exists, softDeleted: st.softDeleted, meta: st.meta, gen: st.gen,
		segs: st.segments(e.topic), tail: st.tail, closed: st.closed, changed: e.changed}
}

// load rebuilds e's state (mu held) from its checkpoint, if any, and its
// topic's events: markers after the checkpoint, data of its generation.
// When the log told more than the checkpoint did (a crash came between a
// commit and its checkpoint), the checkpoint is written again.
func (r *registry) load(ctx context.Context, e *entry) error {
	cp, err := r.loadCheckpoint(ctx, e.topic)
	if err != nil {
		return fmt.Errorf("loading stream %q: %w", e.name, err)
	}
	var st state
	var skipTo, lastMarker uint64 // markers up to skipTo are in the checkpoint
	if cp != nil {
		st, skipTo = cp.restore(), cp.Upto
	}
	f := ssehub.NewFilter(ssehub.MustPattern(e.topic))
	var seen uint64
	err = r.hub.History(ctx, 0, f, func(ev *ssehub.Event) error {
		if ev.Topic != e.topic {
			return nil
		}
		seen = ev.ID
		marker := isMarker(ev.Type)
		if cp != nil && (ev.ID <= cp.Gen || marker && ev.ID <= skipTo) {
			return nil
		}
		if marker || closes(ev) {
			lastMarker = ev.ID
		}
		st.apply(ev)
		return nil
	})
	if err != nil {
		return fmt.Errorf("loading stream %q: %w", e.name, err)
	}
	st.applied = max(st.applied, seen, skipTo)
	e.smu.Lock()
	e.st = st
	e.smu.Unlock()
	e.refreshed.Store(time.Now().UnixNano())
	e.loaded.Store(true)
	if st.exists && lastMarker > skipTo || cp != nil && !st.exists {
		if err := r.saveCheckpoint(ctx, e, max(lastMarker, skipTo)); err != nil {
			return fmt.Errorf("loading stream %q: checkpoint: %w", e.name, err)
		}
	}
	return nil
}

// closes reports whether a data event closes its stream.
func closes(ev *ssehub.Event) bool {
	if len(ev.Meta) == 0 {
		return false
	}
	var m dataMeta
	return json.Unmarshal(ev.Meta, &m) == nil && m.Close
}

// commit appends events as one batch and applies each to the entry of its
// topic (all of them locked by the caller), so the state in memory is what
// a replay of the log gives. dup[i] reports that the store answered
// events[i] as a duplicate of one appended before (another node raced
// this one): then the entries are reloaded from the log. On a store that
// several nodes write, the append is conditional on entries[0]'s topic
// ending at the last event applied (conflict.go): an error wrapping
// ssehub.ErrConflict says another node wrote the stream meanwhile.
func (r *registry) commit(ctx context.Context, events []*ssehub.Event, entries ...*entry) (dup []bool, err error) {
	return r.commitIf(ctx, entries[0].expect(), events, entries...)
}

// commitIf is commit expecting last as the newest event of entries[0]'s
// topic.
func (r *registry) commitIf(ctx context.Context, last uint64, events []*ssehub.Event, entries ...*entry) (dup []bool, err error) {
	res, err := r.hub.PublishIfLast(ctx, entries[0].topic, last, events)
	if err != nil {
		return nil, err
	}
	dup = make([]bool, len(events))
	for i := range events {
		dup[i] = res[i].Duplicate
	}
	for _, e := range entries {
		// Read the topic back from the last event applied: this batch's
		// events and any another node (or POST /publish) appended in
		// between, in log order.
		lastMarker, rerr := r.refresh(ctx, e)
		e.smu.Lock()
		for i, ev := range events {
			// A store that does not read its own write at once: apply
			// the batch as committed (apply skips what was read).
			if ev.Topic == e.topic && !dup[i] && ev.ID > e.st.applied {
				e.st.apply(ev)
				if isMarker(ev.Type) || closes(ev) {
					lastMarker = ev.ID
				}
			}
		}
		e.notify()
		e.smu.Unlock()
		if rerr != nil {
			r.log.Warn("durable streams: reading a commit back", "stream", e.name, "err", rerr)
		}
		// A batch that changed what the markers say updates the
		// checkpoint (after the commit: the log decides, the checkpoint
		// only covers what retention may remove from it).
		if lastMarker > 0 {
			if err := r.saveCheckpoint(ctx, e, e.st.applied); err != nil {
				// The batch is committed and must be answered so: the
				// next load repairs the checkpoint from the log.
				r.log.Warn("durable streams: checkpoint not written; the next load of the stream writes it", "stream", e.name, "err", err)
			}
		}
	}
	return dup, nil
}

// refresh applies (mu held) the events of e's topic after the last one
// applied: those other hub nodes, or POST /publish, appended. It returns
// the id of the last marker among them, 0 for none.
func (r *registry) refresh(ctx context.Context, e *entry) (lastMarker uint64, err error) {
	// Read without smu (readers go on meanwhile), keeping what apply
	// needs of each event (fn may not keep the event itself).
	var evs []*ssehub.Event
	f := ssehub.NewFilter(ssehub.MustPattern(e.topic))
	err = r.hub.History(ctx, e.st.applied, f, func(ev *ssehub.Event) error {
		if ev.Topic != e.topic {
			return nil
		}
		c := &ssehub.Event{ID: ev.ID, Topic: ev.Topic, Type: ev.Type, Meta: bytes.Clone(ev.Meta), Time: ev.Time}
		if isMarker(ev.Type) {
			c.Data = bytes.Clone(ev.Data)
		}
		evs = append(evs, c)
		return nil
	})
	if len(evs) > 0 {
		e.smu.Lock()
		for _, ev := range evs {
			e.st.apply(ev)
			if isMarker(ev.Type) || closes(ev) {
				lastMarker = ev.ID
			}
		}
		e.notify()
		e.smu.Unlock()
	}
	e.refreshed.Store(time.Now().UnixNano())
	return lastMarker, err
}

// holdsRef reports whether fork's create marker came with a reference on
// srcTopic: the first event of srcTopic after the marker, written in the
// same batch, is a ref naming the fork. A create marker written the
// native way (POST /publish by a token scoped to the fork's topic only)
// has none, so removing it must write nothing on its alleged source.
func (r *registry) holdsRef(ctx context.Context, srcTopic string, fork *entry) (bool, error) {
	want := `{"fork":` + quote(fork.name) + `}`
	found := false
	err := r.hub.History(ctx, fork.st.gen, ssehub.MustFilter(srcTopic), func(ev *ssehub.Event) error {
		found = ev.Topic == srcTopic && ev.Type == typeRef && string(ev.Data) == want
		return errStop
	})
	if err = nilStop(err); err != nil || found {
		return found, err
	}
	// No ref right after the marker: retention removed it (oldest first,
	// so the marker, older, went too: the stream lives on its checkpoint),
	// or there never was one (the marker is still in the log).
	kept := false
	err = r.hub.History(ctx, fork.st.gen-1, ssehub.MustFilter(fork.topic), func(ev *ssehub.Event) error {
		kept = ev.ID == fork.st.gen
		return errStop
	})
	return !kept, nilStop(err)
}

func nilStop(err error) error {
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

// remove deletes e's stream (locked, existing, not soft-deleted): a soft
// delete while forks refer to it, else for good, and then a fork gives
// back its reference to its source, which a soft delete waiting on it
// completes, up the chain, all in one batch.
func (r *registry) remove(ctx context.Context, e *entry) error {
	events := []*ssehub.Event{{Topic: e.topic, Type: typeDelete, Data: []byte("{}")}}
	entries := []*entry{e}
	defer func() {
		for _, a := range entries[1:] {
			r.unlock(a)
		}
	}()
	if e.st.refs == 0 {
		// Walk up while each source goes away with this reference.
		cur := e
		for cur.st.meta.Fork != nil {
			src := cur.st.meta.Fork.From
			stopic, err := TopicFor(src)
			if err != nil {
				break
			}
			a, err := r.lock(ctx, src, stopic)
			if err != nil {
				return err
			}
			entries = append(entries, a)
			if !a.st.exists {
				break
			}
			if held, err := r.holdsRef(ctx, a.topic, cur); err != nil {
				return err
			} else if !held {
				break // a create marker written the native way: it holds nothing
			}
			events = append(events, &ssehub.Event{Topic: a.topic, Type: typeUnref, Data: []byte(`{"fork":` + quote(cur.name) + `}`)})
			if !a.st.softDeleted || a.st.refs > 1 {
				break
			}
			cur = a
		}
	}
	_, err := r.commit(ctx, events, entries...)
	return err
}
