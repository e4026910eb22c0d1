package bench

import (
	"bytes"
	"io"
	"time"
)

// Receiver tallies one subscriber's stream: events, duplicates or
// reordering, and publish→receive latency from the "t" (unix nanoseconds)
// field the publishers put in each payload.
type Receiver struct {
	Events  uint64
	Dups    uint64 // events whose id was not greater than the previous one
	LastID  uint64
	Bytes   uint64
	Latency Histogram
	// KeepArrivals makes the Receiver note when each id arrived, for
	// payloads that carry no send time (Arrow batches).
	KeepArrivals bool
	Arrivals     []Arrival
	// OpaqueIDs counts events by their id lines without reading the ids
	// as numbers (Mercure hubs' ids are urn:uuid:… or #n@epoch), so
	// Dups and LastID stay 0.
	OpaqueIDs bool

	carry []byte // an incomplete line from the last Feed
	chunk chunkState
}

// Consume reads an SSE stream in large chunks until it ends, stop returns
// true (checked after each chunk) or the reader fails.
func (rc *Receiver) Consume(r io.Reader, buf []byte, stop func(*Receiver) bool) error {
	for {
		n, err := r.Read(buf)
		if n > 0 {
			rc.Feed(buf[:n], time.Now().UnixNano())
			if stop != nil && stop(rc) {
				return nil
			}
		}
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

// Feed tallies the next bytes of the stream, received at now. It
// allocates nothing per event: it looks only at "id:" lines and the "t"
// field of "data:" lines, and keeps only an incomplete last line.
func (rc *Receiver) Feed(data []byte, now int64) {
	rc.Bytes += uint64(len(data))
	if len(rc.carry) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			rc.carry = append(rc.carry, data...)
			return
		}
		rc.carry = append(rc.carry, data[:i]...)
		rc.line(rc.carry, now)
		rc.carry = rc.carry[:0]
		data = data[i+1:]
	}
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		rc.line(data[:i], now)
		data = data[i+1:]
	}
	rc.carry = append(rc.carry, data...)
}

// FeedChunked is Feed for a body still in HTTP/1.1 chunked framing. It
// reports false once the last chunk has arrived.
func (rc *Receiver) FeedChunked(data []byte, now int64) bool {
	for len(data) > 0 {
		var body []byte
		body, data = rc.chunk.next(data)
		if len(body) > 0 {
			rc.Feed(body, now)
		}
		if rc.chunk.done {
			return false
		}
	}
	return true
}

// Arrival is when an event arrived: its id and the time (unix ns).
type Arrival struct {
	ID uint64
	At int64
}

// chunkState decodes HTTP/1.1 chunked framing incrementally.
type chunkState struct {
	state  uint8  // chunkSize, chunkData or chunkCRLF
	size   uint64 // the size line's value; then data bytes still to come
	digits bool   // the size line has digits
	ext    bool   // in a chunk extension, up to the line's end
	crlf   int    // bytes of the CRLF after chunk data still to skip
	done   bool   // the last chunk arrived
}

const (
	chunkSize = iota
	chunkData
	chunkCRLF
)

// next consumes framing from data and returns the chunk data that
// follows it (possibly empty) and the rest of data.
func (c *chunkState) next(data []byte) (body, rest []byte) {
	for len(data) > 0 {
		switch c.state {
		case chunkData:
			n := min(uint64(len(data)), c.size)
			if c.size -= n; c.size == 0 {
				c.state, c.crlf = chunkCRLF, 2
			}
			return data[:n], data[n:]
		case chunkCRLF:
			data = data[1:]
			if c.crlf--; c.crlf == 0 {
				c.state = chunkSize
			}
		default:
			b := data[0]
			data = data[1:]
			switch {
			case b == '\n':
				if !c.digits {
					continue
				}
				if c.size == 0 {
					c.done = true
					return nil, nil
				}
				c.state, c.digits, c.ext = chunkData, false, false
			case c.ext || b == '\r':
			case b == ';':
				c.ext = true
			default:
				c.size = c.size<<4 | uint64(unhex(b))
				c.digits = true
			}
		}
	}
	return nil, nil
}

func unhex(b byte) byte {
	switch {
	case b >= '0' && b <= '9':
		return b - '0'
	case b >= 'a' && b <= 'f':
		return b - 'a' + 10
	case b >= 'A' && b <= 'F':
		return b - 'A' + 10
	}
	return 0
}

func (rc *Receiver) line(l []byte, now int64) {
	switch {
	case len(l) > 4 && l[0] == 'i' && l[1] == 'd' && l[2] == ':' && rc.OpaqueIDs:
		rc.Events++
	case len(l) > 4 && l[0] == 'i' && l[1] == 'd' && l[2] == ':':
		id := parseUint(l[3:])
		if id <= rc.LastID {
			rc.Dups++
		}
		rc.LastID = id
		rc.Events++
		if rc.KeepArrivals {
			rc.Arrivals = append(rc.Arrivals, Arrival{ID: id, At: now})
		}
	case len(l) > 5 && l[0] == 'd' && l[1] == 'a' && l[2] == 't' && l[3] == 'a' && l[4] == ':':
		if i := bytes.Index(l, []byte(`"t":`)); i >= 0 {
			if t := int64(parseUint(l[i+4:])); t > 0 {
				rc.Latency.Record(time.Duration(now - t))
			}
		}
	}
}

// parseUint reads the decimal digits at the start of b, skipping one space.
func parseUint(b []byte) uint64 {
	if len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + uint64(c-'0')
	}
	return n
}
