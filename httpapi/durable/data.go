package durable

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ssehub/ssehub"
)

// isMarker reports whether an event of a stream's topic is a marker, not
// data.
func isMarker(typ string) bool {
	switch typ {
	case typeCreate, typeClose, typeDelete, typeRef, typeUnref:
		return true
	}
	return false
}

// batchMeta is the Meta of the first event of a JSON append of several
// messages: how many it has, so a fork's sub-offset can find the append's
// end.
type batchMeta struct {
	Batch int `json:"ds_batch"`
}

// dataEvents turns a PUT or POST body into the events it appends: one for
// a byte stream, one per message (a top-level array flattened one level)
// for a JSON stream. An empty array is refused in a POST and appends
// nothing in a PUT.
func dataEvents(topic, ct string, body []byte, create bool) ([]*ssehub.Event, error) {
	if !isJSON(ct) {
		if len(body) == 0 {
			return nil, nil
		}
		return []*ssehub.Event{{Topic: topic, Data: body}}, nil
	}
	if create && len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	if !json.Valid(body) {
		return nil, errors.New("the body is not valid JSON")
	}
	var items []json.RawMessage
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) > 0 && t[0] == '[' {
		if err := json.Unmarshal(body, &items); err != nil {
			return nil, fmt.Errorf("the body is not valid JSON: %w", err)
		}
		if len(items) == 0 {
			if create {
				return nil, nil
			}
			return nil, errors.New("an empty JSON array appends nothing; send at least one message")
		}
	} else {
		items = []json.RawMessage{body}
	}
	out := make([]*ssehub.Event, len(items))
	for i, it := range items {
		var b bytes.Buffer
		if err := json.Compact(&b, it); err != nil {
			return nil, fmt.Errorf("the body is not valid JSON: %w", err)
		}
		out[i] = &ssehub.Event{Topic: topic, Data: b.Bytes()}
	}
	if len(out) > 1 {
		out[0].Meta, _ = json.Marshal(batchMeta{Batch: len(out)})
	}
	return out, nil
}

// errStop ends a scan early; errEnd ends the read of one segment.
var (
	errStop = errors.New("stop")
	errEnd  = errors.New("end of segment")
)

// scan calls fn for each data event of segs with an id in (after, upto],
// in order, until fn returns errStop (not an error) or another error; the
// event and its Data are valid only during the call (a view's Data is
// rebuilt in one buffer, see viewCoder). The segments are disjoint and in
// id order (a fork's own ids follow its fork offset), so it reads them one
// after another, each from its topic's index: a read costs what it
// returns, however busy a fork's source has been since.
func (f *Feature) scan(ctx context.Context, segs []segment, after, upto uint64, fn func(*ssehub.Event) error) error {
	var vc *viewCoder // a view's (native segments)
	for _, g := range segs {
		if g.Upto != 0 && g.Upto <= after {
			continue
		}
		if after >= upto {
			return nil
		}
		end := upto
		if g.Upto != 0 && g.Upto < end {
			end = g.Upto
		}
		err := f.s.Hub().History(ctx, max(after, g.After), ssehub.NewFilter(ssehub.MustPattern(g.Topic)), func(ev *ssehub.Event) error {
			if ev.ID > end {
				return errEnd
			}
			if ev.Topic != g.Topic {
				return nil
			}
			if g.native {
				if vc == nil {
					vc = &viewCoder{}
				}
				cp := *ev
				cp.Data = vc.message(ev.Data)
				return fn(&cp)
			}
			if isMarker(ev.Type) {
				return nil
			}
			return fn(ev)
		})
		switch {
		case errors.Is(err, errStop):
			return nil
		case errors.Is(err, errEnd):
			if end == upto {
				return nil
			}
		case err != nil:
			return err
		}
	}
	return nil
}

// chunk is what one read returns.
type chunk struct {
	items [][]byte // each event's data (copied)
	size  int
	last  uint64 // id of the last event read; 0 when none
	full  bool   // stopped at the size bound before upto
}

// readChunk reads the data in (after, upto] of segs, at most max bytes
// (but always one event when there is one).
func (f *Feature) readChunk(ctx context.Context, segs []segment, after, upto uint64, maxBytes int64) (chunk, error) {
	var c chunk
	err := f.scan(ctx, segs, after, upto, func(ev *ssehub.Event) error {
		if len(c.items) > 0 && int64(c.size+len(ev.Data)) > maxBytes {
			c.full = true
			return errStop
		}
		c.items = append(c.items, bytes.Clone(ev.Data))
		c.size += len(ev.Data)
		c.last = ev.ID
		return nil
	})
	return c, err
}

// body returns the chunk as a response body for a stream of content type
// ct: a JSON array of the messages in JSON mode, else the bytes.
func (c *chunk) body(ct string) []byte {
	if isJSON(ct) {
		n := 2 + c.size + len(c.items)
		b := make([]byte, 0, n)
		b = append(b, '[')
		for i, it := range c.items {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, it...)
		}
		return append(b, ']')
	}
	b := make([]byte, 0, c.size)
	for _, it := range c.items {
		b = append(b, it...)
	}
	return b
}

// sseData returns the chunk as the data of one SSE data event: text for
// text and JSON streams, base64 otherwise.
func (c *chunk) sseData(ct string) []byte {
	b := c.body(ct)
	if isText(ct) {
		return b
	}
	out := make([]byte, base64.StdEncoding.EncodedLen(len(b)))
	base64.StdEncoding.Encode(out, b)
	return out
}
