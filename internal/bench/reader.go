package bench

import (
	"bytes"
	"errors"
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
}

// Consume reads an SSE stream in large chunks until it ends, stop returns
// true (checked after each chunk) or the reader fails. It allocates nothing
// per event: it looks only at "id:" lines and the "t" field of "data:" lines.
func (rc *Receiver) Consume(r io.Reader, buf []byte, stop func(*Receiver) bool) error {
	var carry int // bytes of an incomplete line kept at buf's start
	for {
		n, err := r.Read(buf[carry:])
		if n > 0 {
			now := time.Now().UnixNano()
			data := buf[:carry+n]
			rc.Bytes += uint64(n)
			for {
				i := bytes.IndexByte(data, '\n')
				if i < 0 {
					break
				}
				rc.line(data[:i], now)
				data = data[i+1:]
			}
			carry = copy(buf, data)
			if carry == len(buf) {
				return errors.New("bench: line longer than the read buffer")
			}
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

func (rc *Receiver) line(l []byte, now int64) {
	switch {
	case len(l) > 4 && l[0] == 'i' && l[1] == 'd' && l[2] == ':':
		id := parseUint(l[3:])
		if id <= rc.LastID {
			rc.Dups++
		}
		rc.LastID = id
		rc.Events++
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
