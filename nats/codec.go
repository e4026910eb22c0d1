package nats

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/ssehub/ssehub"
)

// The headers an event's fields travel in. A value a NATS header cannot
// carry as it is (a line break, a control character, leading or trailing
// blanks) travels base64-encoded under the name with "-B64" appended.
const (
	hdrType   = "Ssehub-Type"
	hdrKey    = "Ssehub-Key"
	hdrEntity = "Ssehub-Entity"
	hdrSource = "Ssehub-Source"
	hdrMeta   = "Ssehub-Meta"
	hdrTime   = "Ssehub-Time"
	b64Suffix = "-B64"

	hdrMsgID       = "Nats-Msg-Id"
	hdrBatchID     = "Nats-Batch-Id"
	hdrBatchSeq    = "Nats-Batch-Sequence"
	hdrBatchCommit = "Nats-Batch-Commit"
	hdrStatus      = "Status"
	hdrSeq         = "Nats-Sequence"
	hdrSubject     = "Nats-Subject"
	hdrTimeStamp   = "Nats-Time-Stamp"
	hdrNumPending  = "Nats-Num-Pending"
)

// subject returns the subject of topic.
func (s *Store) subject(topic string) string { return s.prefix + topic }

// topicOf returns the topic of subject, or "" when it is not an event's.
func (s *Store) topicOf(subject string) string {
	if !strings.HasPrefix(subject, s.prefix) {
		return ""
	}
	return subject[len(s.prefix):]
}

// msgID is the Nats-Msg-Id of a keyed event: a digest of the topic and
// the key, so that any key fits in a header and the same key on two topics
// is two ids.
func msgID(topic, key string) string {
	h := sha256.New()
	h.Write([]byte(topic))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:18])
}

// encode returns ev as a message stamped with t.
func (s *Store) encode(ev *ssehub.Event, t time.Time) *nats.Msg {
	m := &nats.Msg{Subject: s.subject(ev.Topic), Header: nats.Header{}, Data: ev.Data}
	setField(m.Header, hdrType, ev.Type)
	setField(m.Header, hdrKey, ev.Key)
	setField(m.Header, hdrEntity, ev.Entity)
	setField(m.Header, hdrSource, ev.Source)
	setField(m.Header, hdrMeta, string(ev.Meta))
	m.Header.Set(hdrTime, t.UTC().Format(time.RFC3339Nano))
	if ev.Key != "" {
		m.Header.Set(hdrMsgID, msgID(ev.Topic, ev.Key))
	}
	return m
}

func setField(h nats.Header, name, v string) {
	if v == "" {
		return
	}
	if headerSafe(v) {
		h[name] = []string{v}
	} else {
		h[name+b64Suffix] = []string{base64.StdEncoding.EncodeToString([]byte(v))}
	}
}

// headerSafe reports whether v survives a NATS header unchanged.
func headerSafe(v string) bool {
	if v[0] == ' ' || v[0] == '\t' || v[len(v)-1] == ' ' || v[len(v)-1] == '\t' {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

func field(h nats.Header, name string) string {
	if vs := h[name]; len(vs) > 0 {
		return vs[0]
	}
	if vs := h[name+b64Suffix]; len(vs) > 0 {
		if b, err := base64.StdEncoding.DecodeString(vs[0]); err == nil {
			return string(b)
		}
	}
	return ""
}

// decode returns the event of a stored message. data is owned by the
// returned event: the caller passes a buffer nobody else holds. The event
// time is the publishing hub's (the same on every node); a message
// without it takes the stream's timestamp.
func (s *Store) decode(subject string, h nats.Header, data []byte, seq uint64, stamp time.Time) *ssehub.Event {
	ev := &ssehub.Event{ID: seq, Topic: s.topicOf(subject), Data: data}
	if len(h) > 0 {
		ev.Type = field(h, hdrType)
		ev.Key = field(h, hdrKey)
		ev.Entity = field(h, hdrEntity)
		ev.Source = field(h, hdrSource)
		if m := field(h, hdrMeta); m != "" {
			ev.Meta = []byte(m)
		}
		if ts := field(h, hdrTime); ts != "" {
			if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
				stamp = t
			}
		}
	}
	ev.Time = stamp
	return ev
}
