package httpapi

import "github.com/ssehub/ssehub"

// eventReservation is a feature's claim on the events a test matches:
// Arrow ingest owns the events the arrow format sends as batches.
type eventReservation struct {
	owner string
	match func(*ssehub.Event) bool
}

// ReserveEvents reserves for the feature owner the events match reports
// true for, whatever their topic: a publish endpoint refuses such an
// event (ReservedEvent), so that a publisher cannot forge what a
// protocol's feature alone writes (an Arrow batch event, whose type and
// meta the arrow format trusts). match must be cheap and safe for
// concurrent use. Call it from Register, as ReserveTypes.
func (s *Server) ReserveEvents(owner string, match func(*ssehub.Event) bool) {
	if s.registered {
		panic("httpapi: ReserveEvents after New returned")
	}
	s.reservedEvents = append(s.reservedEvents, eventReservation{owner, match})
}

// ReservedEvent returns the feature that owns ev, and true, when a
// feature reserved it (ReserveEvents).
func (s *Server) ReservedEvent(ev *ssehub.Event) (owner string, ok bool) {
	for _, r := range s.reservedEvents {
		if r.match(ev) {
			return r.owner, true
		}
	}
	return "", false
}
