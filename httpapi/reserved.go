package httpapi

import (
	"strings"

	"github.com/ssehub/ssehub"
)

// A reservation is a feature's claim on the events match reports true
// for: Durable Streams' ds.* types on ds.* topics (a ds.create starts a
// stream generation), Mercure's "mercure" type on its topics (a
// subscription event), the Arrow batch events the arrow format trusts.
type reservation struct {
	owner string
	match func(*ssehub.Event) bool
}

// ReserveEvents reserves for the feature owner the events match reports
// true for: a publish endpoint refuses such an event (ReservedEvent), so
// that a publisher cannot forge what a protocol's feature alone writes.
// match must be cheap and safe for concurrent use: it runs for every
// published event. Call it from Register: the list is read without a
// lock, so it is fixed once New returns, and a later call panics.
func (s *Server) ReserveEvents(owner string, match func(*ssehub.Event) bool) {
	if s.registered {
		panic("httpapi: ReserveEvents after New returned")
	}
	s.reserved = append(s.reserved, reservation{owner, match})
}

// ReserveTypes is ReserveEvents for event types on a topic prefix: typ is
// an exact type, or a prefix of types when it ends in '.'.
func (s *Server) ReserveTypes(topicPrefix, typ, owner string) {
	prefix := strings.HasSuffix(typ, ".")
	s.ReserveEvents(owner, func(ev *ssehub.Event) bool {
		return ev.Type != "" && strings.HasPrefix(ev.Topic, topicPrefix) &&
			(ev.Type == typ || prefix && strings.HasPrefix(ev.Type, typ))
	})
}

// ReservedEvent returns the feature that owns ev, and true, when a
// feature reserved it (ReserveEvents, ReserveTypes).
func (s *Server) ReservedEvent(ev *ssehub.Event) (owner string, ok bool) {
	for _, r := range s.reserved {
		if r.match(ev) {
			return r.owner, true
		}
	}
	return "", false
}
