package client

import (
	"errors"
	"io"
	"strings"

	"github.com/ssehub/ssehub/sse"
)

// errBadLastEventID rejects an initial last event ID no stream could set.
var errBadLastEventID = errors.New("client: last event ID must not contain CR, LF or NUL")

// newDecoder returns a decoder for a new connection whose stream starts with
// the persisted last event ID string (the EventSource's state, not the
// stream's).
//
// sse.Decoder starts every stream with an empty last event ID buffer, so the
// body is preceded by the one event block that sets it, "id: <id>\n\n": it
// dispatches nothing (no data) and leaves exactly that state. A leading BOM
// of the body is removed first, since the decoder only strips one at the
// very start.
func newDecoder(body io.Reader, lastEventID string) *sse.Decoder {
	if lastEventID == "" {
		return sse.NewDecoder(body)
	}
	return sse.NewDecoder(&prefixReader{prefix: "id: " + lastEventID + "\n\n", r: body})
}

// validLastEventID reports whether id could be a stream's last event ID.
func validLastEventID(id string) bool { return !strings.ContainsAny(id, "\r\n\x00") }

// prefixReader yields prefix, then r without a leading UTF-8 BOM.
type prefixReader struct {
	prefix  string
	r       io.Reader
	started bool   // the BOM check is done
	head    []byte // bytes read from r during the check, not yet returned
}

const bom = "\xEF\xBB\xBF"

func (p *prefixReader) Read(b []byte) (int, error) {
	if len(p.prefix) > 0 {
		n := copy(b, p.prefix)
		p.prefix = p.prefix[n:]
		return n, nil
	}
	if !p.started {
		// Read until the head is known to be, or not to be, a BOM.
		var buf [3]byte
		for len(p.head) < 3 && strings.HasPrefix(bom, string(p.head)) {
			n, err := p.r.Read(buf[:3-len(p.head)])
			p.head = append(p.head, buf[:n]...)
			if err != nil {
				p.started = true
				if string(p.head) == bom {
					p.head = nil
				}
				if len(p.head) > 0 {
					n := copy(b, p.head)
					p.head = p.head[n:]
					return n, nil
				}
				return 0, err
			}
		}
		p.started = true
		if string(p.head) == bom {
			p.head = nil
		}
	}
	if len(p.head) > 0 {
		n := copy(b, p.head)
		p.head = p.head[n:]
		return n, nil
	}
	return p.r.Read(b)
}
