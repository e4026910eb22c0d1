package mercure

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/format"
	"github.com/ssehub/ssehub/sse"
)

// FormatName is the output format this package registers: an event as a
// Mercure subscriber gets it (id, event type, retry, data), preceded by a
// comment line that carries its exact topics and privacy, which the Mercure
// endpoint reads to route it and drops before writing. It is registered
// like any format, but meant for this endpoint only: a configured stream
// naming it would send the routing comments (and events not meant for
// Mercure subscribers) as well.
const FormatName = "mercure"

// Format is the registered "mercure" format.
var Format format.Format = mercureFormat{}

func init() { format.MustRegister(Format) }

type mercureFormat struct{}

func (mercureFormat) Name() string { return FormatName }

// meta is what a Mercure publish keeps in the event's Meta, under "mercure".
type meta struct {
	Topics []string `json:"topics"`
	ID     string   `json:"id,omitempty"`
	Retry  int64    `json:"retry,omitempty"`
	// Sig is the hub's seal (see seal.go); meta without it is ignored.
	Sig string `json:"sig,omitempty"`
}

type metaDoc struct {
	Mercure *meta `json:"mercure"`
}

// Separator of the fields of the frame's comment line: a control character,
// which no Mercure topic or id may contain.
const sep = '\x1f'

// hubID is the Mercure id the hub gives an update published without one:
// a fragment with its log id and the log's epoch ("#42@k3x9"), which no
// publisher may use ("#" is refused). The epoch tells an id of a recreated
// log from one of this log.
func hubID(logID string) string { return "#" + logID }

// Encode writes ":m <n>\x1f<x|p|n|->\x1f<id>\x1f<topic>…\n" and then the
// n bytes of the SSE event. The mark is x for an event no Mercure
// subscriber may get, p for a private update, - for a public one, and n
// for an event on a topic outside the Mercure prefixes (a native event),
// whose one topic is then its ssehub topic: the endpoint maps it to an IRI
// with its own configuration, and only when that configuration lists it.
func (mercureFormat) Encode(dst []byte, ev *ssehub.Event, id string) []byte {
	native := !strings.HasPrefix(ev.Topic, PublicPrefix) && !strings.HasPrefix(ev.Topic, PrivatePrefix)
	var m meta
	deliverable := ev.Type != "mercure"
	if native {
		// Its meta, whatever it says, is not the hub's seal: a native
		// event is its topic, type and data.
		m.Topics = []string{ev.Topic}
	} else {
		m, deliverable = metaOf(ev)
	}
	mid := m.ID
	if mid == "" {
		mid = hubID(id)
	}
	e := sse.Event{ID: mid, Type: ev.Type, Data: ev.Data}
	if m.Retry > 0 {
		e.Retry = time.Duration(m.Retry) * time.Millisecond
	}
	body, err := sse.AppendEvent(nil, &e)
	if err != nil {
		// Published through the Mercure endpoint, ids and types are
		// checked; a native event with a bad type is sent without it.
		e.Type = ""
		body, _ = sse.AppendEvent(nil, &e)
	}
	dst = append(dst, ":m "...)
	dst = strconv.AppendInt(dst, int64(len(body)), 10)
	dst = append(dst, sep)
	switch {
	case !deliverable:
		dst = append(dst, 'x')
	case native:
		dst = append(dst, 'n')
	case strings.HasPrefix(ev.Topic, PrivatePrefix):
		dst = append(dst, 'p')
	default:
		dst = append(dst, '-')
	}
	dst = append(dst, sep)
	dst = append(dst, mid...)
	for _, t := range m.Topics {
		dst = append(dst, sep)
		dst = append(dst, t...)
	}
	dst = append(dst, '\n')
	return append(dst, body...)
}

// metaOf returns the Mercure fields of ev: those its Mercure publish
// sealed, or for an event published another way, its topic decoded. An
// unsealed event that would pass for one of the hub's own (type "mercure",
// or a topic in the hub's namespace) is not deliverable.
func metaOf(ev *ssehub.Event) (meta, bool) {
	if len(ev.Meta) > 0 && bytes.Contains(ev.Meta, []byte(`"mercure"`)) {
		var d metaDoc
		if json.Unmarshal(ev.Meta, &d) == nil && d.Mercure != nil && len(d.Mercure.Topics) > 0 &&
			sealed(d.Mercure, ev.Topic, ev.Type) && TopicFor(d.Mercure.Topics[0], strings.HasPrefix(ev.Topic, PrivatePrefix)) == ev.Topic {
			return *d.Mercure, true
		}
	}
	iri, _, ok := IRIOf(ev.Topic)
	if !ok {
		return meta{}, ev.Type != "mercure"
	}
	return meta{Topics: []string{iri}}, ev.Type != "mercure" && !reserved(iri, "http://hub.invalid"+Path)
}

// update is one frame read back from a subscriber's bytes.
type update struct {
	private bool
	// native: topics holds the event's ssehub topic, which the endpoint
	// maps to iri (see Feature.mapNative).
	native bool
	id     []byte
	topics []string
	sse    []byte

	// The last native topic mapped, its IRI (as a one-topic list) and
	// whether it may be delivered: a stream's native events mostly share
	// their topic, so mapping allocates once.
	nativeTopic string
	iri         []string
	iriOK       bool
}

// nextFrame splits the first frame off b. A chunk that is not a frame (the
// hub's gap event) is skipped whole, reported with ok and a nil sse.
func nextFrame(b []byte, u *update) (rest []byte, ok bool) {
	if len(b) == 0 {
		return b, false
	}
	if !bytes.HasPrefix(b, []byte(":m ")) {
		// An SSE event of the hub itself (gap): up to its blank line.
		i := bytes.Index(b, []byte("\n\n"))
		if i < 0 {
			return nil, false
		}
		u.sse = nil
		return b[i+2:], true
	}
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 {
		return nil, false
	}
	line := b[3:nl]
	i := bytes.IndexByte(line, sep)
	if i < 0 {
		return nil, false
	}
	n, err := strconv.Atoi(string(line[:i]))
	if err != nil || n < 0 || nl+1+n > len(b) {
		return nil, false
	}
	line = line[i+1:]
	if i = bytes.IndexByte(line, sep); i != 1 {
		return nil, false
	}
	switch line[0] {
	case 'x':
		u.sse = nil // not for Mercure subscribers
		return b[nl+1+n:], true
	case 'p':
		u.private, u.native = true, false
	case 'n':
		u.private, u.native = true, true // a native event is always private
	default:
		u.private, u.native = false, false
	}
	line = line[2:]
	// The id, then the topics: topic strings equal to the last frame's
	// are reused (comparing does not allocate), as a stream's updates
	// mostly share their topics.
	field := func() []byte {
		j := bytes.IndexByte(line, sep)
		if j < 0 {
			f := line
			line = nil
			return f
		}
		f := line[:j]
		line = line[j+1:]
		return f
	}
	u.id = append(u.id[:0], field()...) // a new id every frame: copied, not allocated
	k := 0
	for line != nil {
		f := field()
		if k < len(u.topics) {
			if string(f) != u.topics[k] {
				u.topics[k] = string(f)
			}
		} else {
			u.topics = append(u.topics, string(f))
		}
		k++
	}
	u.topics = u.topics[:k]
	u.sse = b[nl+1 : nl+1+n]
	return b[nl+1+n:], true
}
