package durable

import (
	"encoding/json"
	"time"

	"github.com/ssehub/ssehub"
)

// The event types of a stream's markers. A stream's whole state (its
// configuration, closure, forks, producers and Stream-Seq) is a function of
// the events of its topic: every change is an event appended in the same
// all-or-nothing batch as the data it goes with, so no crash can separate a
// producer's sequence number from the data it acknowledged. Every other
// event of the topic is data.
const (
	typeCreate = "ds.create" // data: createMeta; starts a generation
	typeClose  = "ds.close"  // data: closeMeta; a close without data
	typeDelete = "ds.delete" // soft while forks refer to the stream
	typeRef    = "ds.ref"    // on the source: a fork was created
	typeUnref  = "ds.unref"  // on the source: a fork went away
)

// createMeta is the data of a create marker.
type createMeta struct {
	ContentType string    `json:"content_type"`
	TTL         *int64    `json:"ttl,omitempty"`
	ExpiresAt   string    `json:"expires_at,omitempty"`
	Closed      bool      `json:"closed,omitempty"`
	Fork        *forkMeta `json:"fork,omitempty"`
}

// forkMeta records where a fork branched.
type forkMeta struct {
	From string `json:"from"`
	// Offset is the id of the last inherited event; OffsetAsked is the
	// Stream-Fork-Offset the client sent ("" if none), for idempotent
	// re-creation.
	Offset      uint64 `json:"offset"`
	OffsetAsked string `json:"offset_asked,omitempty"`
	SubOffset   int64  `json:"sub_offset,omitempty"`
	// Segments are the inherited ranges, oldest ancestor first.
	Segments []segment `json:"segments"`
}

// segment is a range of one topic's events that a stream reads: ids in
// (After, Upto], Upto 0 meaning no bound.
type segment struct {
	Topic string `json:"topic"`
	After uint64 `json:"after"`
	Upto  uint64 `json:"upto,omitempty"`
	// native marks a view's segment (never stored): every event of the
	// topic is a message, whatever its type, and reads as JSON
	// (viewMessage).
	native bool
}

// forkInDS reports whether every topic fm reads is a stream's: a create
// marker is an event anyone with publish on the topic can write the native
// way (POST /publish), and a fork onto another topic of the log would let
// the stream's readers read it.
func forkInDS(fm *forkMeta) bool {
	if fm == nil {
		return true
	}
	for _, g := range fm.Segments {
		if _, ok := NameFor(g.Topic); !ok || ssehub.ValidateTopic(g.Topic) != nil {
			return false
		}
	}
	return true
}

func (g segment) has(id uint64) bool { return id > g.After && (g.Upto == 0 || id <= g.Upto) }

// producerTuple is one idempotent producer request.
type producerTuple struct {
	ID    string `json:"id"`
	Epoch int64  `json:"epoch"`
	Seq   int64  `json:"seq"`
}

// dataMeta is the Meta of the last data event of an append (absent when
// there is nothing to record).
type dataMeta struct {
	Producer  *producerTuple `json:"ds_producer,omitempty"`
	StreamSeq string         `json:"ds_stream_seq,omitempty"`
	Close     bool           `json:"ds_close,omitempty"`
}

// closeMeta is the data of a close marker.
type closeMeta struct {
	Producer *producerTuple `json:"producer,omitempty"`
}

// producerState is what a stream remembers of a producer.
type producerState struct {
	Epoch, Seq int64
}

// state is one stream's state, rebuilt from its topic's events by apply.
type state struct {
	exists      bool
	softDeleted bool
	gen         uint64 // id of the create marker
	meta        createMeta
	expires     time.Time // parsed meta.ExpiresAt
	closed      bool
	closedBy    *producerTuple
	tail        uint64 // id after which the next data goes (last data id, the fork offset or gen)
	refs        int
	producers   map[string]producerState
	streamSeq   string
	lastAccess  time.Time
	applied     uint64 // the id of the last event of the topic applied
}

// segments returns the ranges the stream reads, its own last.
func (st *state) segments(topic string) []segment {
	var out []segment
	if st.meta.Fork != nil {
		out = append(out, st.meta.Fork.Segments...)
	}
	return append(out, segment{Topic: topic, After: st.gen})
}

// apply updates st with one event of the stream's topic, in log order;
// an event at or before the last one applied is ignored, so applying what
// the log holds again is harmless.
func (st *state) apply(ev *ssehub.Event) {
	if ev.ID <= st.applied {
		return
	}
	defer func() { st.applied = ev.ID }()
	switch ev.Type {
	case typeCreate:
		var m createMeta
		if json.Unmarshal(ev.Data, &m) != nil || !forkInDS(m.Fork) {
			return
		}
		*st = state{exists: true, gen: ev.ID, meta: m, closed: m.Closed, tail: ev.ID, lastAccess: ev.Time,
			producers: map[string]producerState{}}
		if m.ExpiresAt != "" {
			st.expires, _ = parseExpiry(m.ExpiresAt)
		}
		if m.Fork != nil {
			st.tail = m.Fork.Offset
		}
		return
	case typeRef:
		if st.exists {
			st.refs++
		}
		return
	case typeUnref:
		if st.exists {
			st.refs--
			if st.refs <= 0 {
				st.refs = 0
				if st.softDeleted {
					*st = state{}
				}
			}
		}
		return
	}
	if !st.exists || st.softDeleted {
		return
	}
	st.lastAccess = ev.Time
	switch ev.Type {
	case typeDelete:
		if st.refs > 0 {
			st.softDeleted = true
		} else {
			*st = state{}
		}
	case typeClose:
		var m closeMeta
		_ = json.Unmarshal(ev.Data, &m)
		st.closed = true
		if m.Producer != nil {
			st.closedBy = m.Producer
			st.producers[m.Producer.ID] = producerState{Epoch: m.Producer.Epoch, Seq: m.Producer.Seq}
		}
	default:
		st.tail = ev.ID
		if len(ev.Meta) == 0 {
			return
		}
		var m dataMeta
		if json.Unmarshal(ev.Meta, &m) != nil {
			return
		}
		if m.Producer != nil {
			st.producers[m.Producer.ID] = producerState{Epoch: m.Producer.Epoch, Seq: m.Producer.Seq}
		}
		if m.StreamSeq != "" {
			st.streamSeq = m.StreamSeq
		}
		if m.Close {
			st.closed = true
			st.closedBy = m.Producer
		}
	}
}

// expired reports whether the stream's TTL (counted from last, its last
// read or write) or expiry time has passed.
func (st *state) expired(now, last time.Time) bool {
	if st.meta.ExpiresAt != "" && !now.Before(st.expires) {
		return true
	}
	if st.meta.TTL != nil && !now.Before(last.Add(time.Duration(*st.meta.TTL)*time.Second)) {
		return true
	}
	return false
}

// parseExpiry parses a Stream-Expires-At value: RFC 3339, with or without
// fractional seconds.
func parseExpiry(s string) (time.Time, error) {
	return time.Parse(time.RFC3339Nano, s)
}
