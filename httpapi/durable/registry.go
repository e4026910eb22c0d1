package durable

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/hub"
)

// entry is one stream's state on this node. Its mutex serializes every
// change of the stream (validation and append, so a producer's requests
// are checked and committed one after another); readers hold it only to
// take a snapshot.
type entry struct {
	mu      sync.Mutex
	name    string
	topic   string
	loaded  bool
	dropped bool // removed from the registry: look the name up again
	st      state
	changed chan struct{} // closed and replaced at every change
}

// notify wakes every reader waiting for a change; e.mu is held.
func (e *entry) notify() {
	close(e.changed)
	e.changed = make(chan struct{})
}

// registry holds the entries of the streams that exist (and, while one is
// locked, of a name being looked up).
type registry struct {
	hub *hub.Hub
	now func() time.Time
	mu  sync.Mutex
	m   map[string]*entry
}

func newRegistry(h *hub.Hub) *registry {
	return &registry{hub: h, now: time.Now, m: map[string]*entry{}}
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
		r.mu.Unlock()
		e.mu.Lock()
		if e.dropped {
			e.mu.Unlock()
			continue
		}
		if !e.loaded {
			if err := r.load(ctx, e); err != nil {
				r.unlock(e)
				return nil, err
			}
		}
		if e.st.exists && !e.st.softDeleted && e.st.expired(r.now()) {
			if err := r.remove(ctx, e, nil); err != nil {
				r.unlock(e)
				return nil, err
			}
		}
		return e, nil
	}
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
		e.dropped = true
		e.notify()
	}
	e.mu.Unlock()
}

// load rebuilds e's state from its topic's events.
func (r *registry) load(ctx context.Context, e *entry) error {
	e.st = state{}
	f := ssehub.NewFilter(ssehub.MustPattern(e.topic))
	err := r.hub.History(ctx, 0, f, func(ev *ssehub.Event) error {
		if ev.Topic == e.topic {
			e.st.apply(ev)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("loading stream %q: %w", e.name, err)
	}
	e.loaded = true
	return nil
}

// commit appends events as one batch and applies each to the entry of its
// topic (all of them locked by the caller), so the state in memory is what
// a replay of the log gives. It reports whether the store answered any
// event as a duplicate of one appended before (another node raced this
// one): then the entries are reloaded from the log.
func (r *registry) commit(ctx context.Context, events []*ssehub.Event, entries ...*entry) (dup bool, err error) {
	res, err := r.hub.Publish(ctx, events)
	if err != nil {
		return false, err
	}
	byTopic := make(map[string]*entry, len(entries))
	for _, e := range entries {
		byTopic[e.topic] = e
	}
	for i, ev := range events {
		if res[i].Duplicate {
			dup = true
			continue
		}
		if e := byTopic[ev.Topic]; e != nil {
			e.st.apply(ev)
		}
	}
	if dup {
		for _, e := range entries {
			if err := r.load(ctx, e); err != nil {
				return true, err
			}
		}
	}
	for _, e := range entries {
		e.notify()
	}
	return dup, nil
}

// remove deletes e's stream (locked, existing, not soft-deleted): a soft
// delete while forks refer to it, else for good, and then a fork gives
// back its reference to its source, which a soft delete waiting on it
// completes, up the chain. extra events go into the same batch.
func (r *registry) remove(ctx context.Context, e *entry, extra []*ssehub.Event) error {
	events := append(extra, &ssehub.Event{Topic: e.topic, Type: typeDelete, Data: []byte("{}")})
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
