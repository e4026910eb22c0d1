package arrow

import (
	"encoding/base64"
	"slices"
	"strconv"
	"sync"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/format"
)

// EventType is the Type of an Arrow batch event in the log.
const EventType = "batch"

// metaPrefix starts the Meta of every Arrow batch event; the fingerprint
// follows at a fixed offset, so a format reads it without parsing JSON.
const metaPrefix = `{"arrow_schema":"`

// NewEvent returns the event of one batch of topic: data is the batch's
// IPC stream as it will be stored and sent, Type EventType, and Meta
// {"arrow_schema":"<fingerprint>","rows":N}.
func NewEvent(topic string, s *Schema, b Batch) *ssehub.Event {
	meta := make([]byte, 0, len(metaPrefix)+FingerprintLen+32)
	meta = append(meta, metaPrefix...)
	meta = append(meta, s.Fingerprint...)
	meta = append(meta, `","rows":`...)
	meta = strconv.AppendInt(meta, b.Rows, 10)
	meta = append(meta, '}')
	return &ssehub.Event{Topic: topic, Type: EventType, Data: b.Data, Meta: meta}
}

// FingerprintOf returns the schema fingerprint of an Arrow batch event, and
// false for any other event. It costs a few comparisons and no allocation.
func FingerprintOf(ev *ssehub.Event) ([]byte, bool) {
	m := ev.Meta
	if ev.Type != EventType || len(m) < len(metaPrefix)+FingerprintLen+1 || string(m[:len(metaPrefix)]) != metaPrefix ||
		m[len(metaPrefix)+FingerprintLen] != '"' {
		return nil, false
	}
	return m[len(metaPrefix) : len(metaPrefix)+FingerprintLen], true
}

// Format is the "arrow" output format (BoilStream's SSE consumer API):
//
//	event: schema
//	data: <base64 IPC stream holding only the schema>
//
//	event: batch
//	id: <event id>
//	data: <base64 IPC stream: the schema and one record batch>
//
// A connection gets a schema event for every Arrow topic its filter matches
// first (the current schema, its metadata naming the topic under TopicKey),
// and again before a batch whose topic or schema differs from the last
// schema event it got, so that the schema event before a batch is always
// that batch's own. Schema events carry no id: they do not move a client's
// Last-Event-ID. A batch is encoded (base64) once and shared by every
// subscriber. An event that is not an Arrow batch (published with
// /publish to the same topic) is sent as the raw format sends it, without
// its type when that is batch, schema or heartbeat (the format's own).
var Format = &arrowFormat{}

// HeartbeatBytes is the heartbeat of an arrow stream by default, the seed's
// bytes: a named event with empty data. Browsers do not dispatch an event
// whose data is empty, so an EventSource never sees it (it still keeps
// proxies from closing an idle stream); a stream with heartbeat_style:
// event sends "data: ping" instead.
const HeartbeatBytes = "event: heartbeat\ndata:\n\n"

func init() { format.MustRegister(Format) }

type arrowFormat struct {
	frames frameCache
}

func (*arrowFormat) Name() string { return "arrow" }

// HeartbeatStyle tells the stream feature which heartbeat an arrow stream
// sends by default: "empty", HeartbeatBytes.
func (*arrowFormat) HeartbeatStyle() string { return "empty" }

// Encode implements format.Format.
func (*arrowFormat) Encode(dst []byte, ev *ssehub.Event, id string) []byte {
	if _, ok := FingerprintOf(ev); !ok {
		if ev.Type == EventType || ev.Type == "schema" || ev.Type == "heartbeat" {
			// Not one of this format's own events, whatever its type
			// says: sent as a plain message, so an Arrow client never
			// decodes it as a batch or a schema.
			plain := *ev
			plain.Type = ""
			return format.Raw.Encode(dst, &plain, id)
		}
		return format.Raw.Encode(dst, ev, id)
	}
	return AppendBatchEvent(dst, id, ev.Data)
}

// AppendBatchEvent appends the batch event of an IPC stream.
func AppendBatchEvent(dst []byte, id string, data []byte) []byte {
	n := base64.StdEncoding.EncodedLen(len(data))
	dst = slices.Grow(dst, len("event: batch\nid: \ndata: \n\n")+len(id)+n)
	dst = append(dst, "event: batch\n"...)
	if id != "" {
		dst = append(dst, "id: "...)
		dst = append(dst, id...)
		dst = append(dst, '\n')
	}
	dst = append(dst, "data: "...)
	dst = base64.StdEncoding.AppendEncode(dst, data)
	return append(dst, "\n\n"...)
}

// AppendSchemaEvent appends the schema event of an IPC stream.
func AppendSchemaEvent(dst []byte, data []byte) []byte {
	dst = append(dst, "event: schema\ndata: "...)
	dst = base64.StdEncoding.AppendEncode(dst, data)
	return append(dst, "\n\n"...)
}

// NewSession implements format.SessionFormat: it looks up the current
// schemas of the Arrow topics info.Filter matches.
func (f *arrowFormat) NewSession(info format.SessionInfo) format.Session {
	s := &session{f: f}
	for _, c := range matchingAll(info) {
		fr := f.frames.get(c.Topic, c.Schema.Fingerprint, func() (*Schema, error) { return c.Schema, nil })
		if fr != nil {
			s.start = append(s.start, fr...)
			s.topic, s.fp = c.Topic, c.Schema.Fingerprint
		}
	}
	return s
}

// session is one connection's state: what it sends first, and the topic
// and schema of the last schema event it sent.
type session struct {
	f         *arrowFormat
	start     []byte
	topic, fp string
}

func (s *session) Start(dst []byte) []byte {
	dst = append(dst, s.start...)
	s.start = nil
	return dst
}

func (s *session) Before(dst []byte, ev *ssehub.Event) []byte {
	fp, ok := FingerprintOf(ev)
	if !ok || (ev.Topic == s.topic && string(fp) == s.fp) {
		return dst
	}
	fps := string(fp)
	fr := s.f.frames.get(ev.Topic, fps, func() (*Schema, error) { return DecodeSchema(ev.Data) })
	if fr == nil {
		return dst // not decodable: the batch still carries its own schema
	}
	s.topic, s.fp = ev.Topic, fps
	return append(dst, fr...)
}

// frameCache keeps the schema events by topic and fingerprint: immutable,
// built once per process, bounded.
type frameCache struct {
	mu    sync.RWMutex
	m     map[string][]byte
	bytes int // of the frames in m
}

const maxFrames = 4096

// maxCacheBytes bounds the bytes of each cache of schemas (the registry's
// and the frames): one schema may carry as much metadata as an ingest body
// holds, so a count alone does not bound the memory.
const maxCacheBytes = 32 << 20

// get returns the schema event of topic and fingerprint fp, building it from
// the schema load returns on a miss; nil when that fails.
func (c *frameCache) get(topic, fp string, load func() (*Schema, error)) []byte {
	key := topic + "\x00" + fp
	c.mu.RLock()
	fr, ok := c.m[key]
	c.mu.RUnlock()
	if ok {
		return fr
	}
	s, err := load()
	if err != nil {
		return nil
	}
	data, err := s.WithTopic(topic)
	if err != nil {
		return nil
	}
	fr = AppendSchemaEvent(nil, data)
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxFrames || c.bytes+len(fr) > maxCacheBytes {
		c.m, c.bytes = make(map[string][]byte), 0
	}
	if _, ok := c.m[key]; !ok {
		c.bytes += len(fr)
	}
	c.m[key] = fr
	c.mu.Unlock()
	return fr
}
