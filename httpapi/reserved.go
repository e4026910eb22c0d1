package httpapi

import "strings"

// A reservation says that, on topics starting with TopicPrefix, event types
// named Type (or starting with it, when it ends in '.') mean something to
// the feature Owner: Durable Streams' ds.create on a ds.* topic starts a
// stream generation, Mercure's "mercure" type marks a subscription event.
type reservation struct {
	topicPrefix, typ, owner string
}

// ReserveTypes reserves event types on a topic prefix for a feature: typ
// is an exact type, or a prefix of types when it ends in '.'. A publish
// endpoint refuses a reserved type on such a topic (ReservedType), so a
// publisher cannot forge a protocol's own records, only the protocol's
// feature writes them. Call it from Register: the list is read without a
// lock on every published event, so it is fixed once New returns, and a
// later call panics.
func (s *Server) ReserveTypes(topicPrefix, typ, owner string) {
	if s.registered {
		panic("httpapi: ReserveTypes after New returned")
	}
	s.reserved = append(s.reserved, reservation{topicPrefix, typ, owner})
}

// ReservedType returns the feature that owns event type typ on topic, and
// true, when a feature reserved it (ReserveTypes).
func (s *Server) ReservedType(topic, typ string) (owner string, ok bool) {
	if typ == "" {
		return "", false
	}
	for _, r := range s.reserved {
		if !strings.HasPrefix(topic, r.topicPrefix) {
			continue
		}
		if typ == r.typ || (strings.HasSuffix(r.typ, ".") && strings.HasPrefix(typ, r.typ)) {
			return r.owner, true
		}
	}
	return "", false
}
