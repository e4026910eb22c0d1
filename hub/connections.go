package hub

import (
	"context"
	"time"

	"github.com/ssehub/ssehub"
)

// Labels describe what opened a subscription, for Connections: the HTTP
// layer attaches them to the context it subscribes with (WithLabels), and
// the subscription keeps them with that context.
type Labels struct {
	// Stream names the endpoint: "events", "stream", a configured stream.
	Stream string
	// Client is the client's address.
	Client string
	// Since is when the subscription was opened; WithLabels sets it to
	// now when it is zero.
	Since time.Time
}

type labelsKey struct{}

// WithLabels returns ctx carrying l; pass it as SubscribeOptions.Context.
func WithLabels(ctx context.Context, l Labels) context.Context {
	if l.Since.IsZero() {
		l.Since = time.Now()
	}
	return context.WithValue(ctx, labelsKey{}, l)
}

// ConnectionState is where a subscription is, as the hub sees it.
type ConnectionState string

// The states of a Connection.
const (
	// StateLive: in the live index, with nothing waiting.
	StateLive ConnectionState = "live"
	// StateQueued: in the live index, with events waiting for its writer.
	StateQueued ConnectionState = "queued"
	// StateCatchingUp: replaying history, or reading the log after it fell
	// behind its queue; it joins the live index when it reaches the head.
	StateCatchingUp ConnectionState = "catching_up"
	// StateEnding: the hub ended it (a revoked token, a deregistered
	// topic) and it has not been closed yet.
	StateEnding ConnectionState = "ending"
)

// Connection is one open subscription as the hub knows it, without
// stopping its writer.
type Connection struct {
	Labels
	// Filter is what it streams; Format and EpochIDs how.
	Filter   ssehub.Filter
	Format   string
	EpochIDs bool
	// TokenID is its credential's token; "" without one.
	TokenID string
	State   ConnectionState
	// Queued is the events handed to it and not yet written.
	Queued int
	// Position, when PositionKnown, is the id up to which every matching
	// event has been written; Head is the hub's head when it was read.
	Position      uint64
	PositionKnown bool
	Head          uint64
}

// Lag returns Head − Position, and whether the position is known.
func (c *Connection) Lag() (uint64, bool) {
	if !c.PositionKnown || c.Position > c.Head {
		return 0, c.PositionKnown
	}
	return c.Head - c.Position, true
}

// Connections lists the open subscriptions. It holds the hub's lock only
// to copy the list of subscriptions and whether each is in the live index;
// each subscription's own lock is taken in turn afterwards.
//
// What the hub can tell without the writer: a live subscription with
// nothing queued has written everything up to the head; one with events
// queued (and none taken but unwritten) has written everything before the
// oldest of them; the position of one catching up is its finished read's,
// when one is done, and otherwise unknown (the writer's own goroutine
// owns it).
func (h *Hub) Connections() []Connection {
	type entry struct {
		s    *Subscriber
		live bool
	}
	h.mu.Lock()
	list := make([]entry, 0, len(h.subs))
	for s := range h.subs {
		list = append(list, entry{s, h.idx.has(s)})
	}
	h.mu.Unlock()
	head := h.lastID.Load()
	out := make([]Connection, 0, len(list))
	for _, e := range list {
		s := e.s
		c := Connection{Filter: s.filter, Format: s.enc.format().Name(), EpochIDs: s.enc.epochIDs(), Head: head}
		if l, ok := s.ctx.Value(labelsKey{}).(Labels); ok {
			c.Labels = l
		}
		if s.token != nil {
			c.TokenID = s.token.ID
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			continue
		}
		c.Queued = len(s.queue) + s.held
		switch {
		case s.ended != nil:
			c.State = StateEnding
		case e.live && c.Queued == 0 && s.read == nil && !s.lagging:
			c.State, c.Position, c.PositionKnown = StateLive, head, true
		case e.live && !s.lagging:
			c.State = StateQueued
			if s.held == 0 && len(s.queue) > 0 {
				c.Position, c.PositionKnown = s.queue[0].ev.ID-1, true
			}
		default:
			c.State = StateCatchingUp
			if s.read != nil && s.read.done && s.read.res.err == nil {
				c.Position, c.PositionKnown = s.read.res.pos, true
			}
		}
		s.mu.Unlock()
		out = append(out, c)
	}
	return out
}

// has reports whether s is in the live index; with h.mu held.
func (x *index) has(s *Subscriber) bool {
	if s.filter.IsAll() {
		_, ok := x.all[s]
		return ok
	}
	ps := s.filter.Patterns()
	if len(ps) == 0 {
		return false
	}
	m, key := x.key(ps[0]) // a subscriber is under every pattern of its filter, or none
	set, ok := m[key]
	if !ok {
		return false
	}
	if set.one == s {
		return true
	}
	_, ok = set.many[s]
	return ok
}
