package client

import (
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestNewDecoderCarriesLastEventID: a new connection's events report the
// persisted ID until the stream sets another, and a leading BOM of the new
// stream is still stripped.
func TestNewDecoderCarriesLastEventID(t *testing.T) {
	const bom = "\xEF\xBB\xBF"
	for name, r := range map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
	} {
		d := newDecoder(r(strings.NewReader(bom+"data: x\n\nid: 8\ndata: y\n\nid\ndata: z\n\n")), "7")
		var got []string
		for {
			ev, err := d.Next()
			if err != nil {
				break
			}
			got = append(got, ev.ID+"="+string(ev.Data))
		}
		if strings.Join(got, ",") != "7=x,8=y,=z" {
			t.Errorf("%s: %v", name, got)
		}
	}
}

func TestBadInitialLastEventID(t *testing.T) {
	for _, id := range []string{"a\nb", "a\rb", "a\x00b"} {
		c := New("http://127.0.0.1:1/", WithLastEventID(id))
		if _, err := c.Next(t.Context()); err != errBadLastEventID {
			t.Errorf("%q: Next = %v, want errBadLastEventID", id, err)
		}
	}
}
