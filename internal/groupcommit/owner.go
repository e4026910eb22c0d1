package groupcommit

import "github.com/ssehub/ssehub"

// An Owner gives a group's committed events, for followers, their own
// memory with two allocations a group instead of three an event: the
// events in one array, their Data and Meta in one arena (each slice's
// capacity its length).
type Owner struct {
	evs   []ssehub.Event
	arena []byte
}

// NewOwner sizes an Owner for the events of reqs.
func NewOwner(reqs []*Request) *Owner {
	n, size := 0, 0
	for _, r := range reqs {
		n += len(r.Events)
		for _, e := range r.Events {
			size += len(e.Data) + len(e.Meta)
		}
	}
	return &Owner{evs: make([]ssehub.Event, 0, n), arena: make([]byte, 0, size)}
}

// Own returns an owned copy of ev: at most one per event of the group.
func (g *Owner) Own(ev *ssehub.Event) *ssehub.Event {
	g.evs = append(g.evs, *ev) // (were it to grow, earlier pointers would keep the old array)
	c := &g.evs[len(g.evs)-1]
	c.Data, c.Meta = g.bytes(ev.Data), g.bytes(ev.Meta)
	return c
}

func (g *Owner) bytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	start := len(g.arena)
	g.arena = append(g.arena, b...)
	return g.arena[start:len(g.arena):len(g.arena)]
}

// Cap is how many events the Owner holds room for: the group's.
func (g *Owner) Cap() int { return cap(g.evs) }
