package sse

import (
	"bytes"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// FuzzDecode checks that the decoder never panics, agrees with the naive
// reference decoder, gives the same events however the input is split
// between reads and whatever its buffer size, and never holds more than
// MaxEventSize for one event.
func FuzzDecode(f *testing.F) {
	for _, c := range decodeCases {
		f.Add([]byte(c.in), uint16(len(c.in)/2))
	}
	f.Add([]byte("\xEF\xBB\xBFdata: x\r\n\r\n"), uint16(1))
	f.Add([]byte("data: a\r\n\r\n"), uint16(8))
	f.Add([]byte("data: \xE2\x82\xAC\n\n"), uint16(8))
	f.Add([]byte("id: 1\x00\nretry: 10\nevent: e\ndata: "+strings.Repeat("long ", 10)+"\n\n"), uint16(30))
	f.Fuzz(func(t *testing.T, in []byte, split uint16) {
		want := refDecode(in)
		got, err := decodeAll(NewDecoder(bytes.NewReader(in)))
		if err != nil || !sameResult(got, want) {
			t.Fatalf("whole: error %v\n got %s\nwant %s", err, show(got), show(want))
		}
		at := int(split) % (len(in) + 1)
		for name, r := range map[string]io.Reader{
			"split":   chunks(in[:at], in[at:]),
			"onebyte": iotest.OneByteReader(bytes.NewReader(in)),
		} {
			d := NewDecoder(r)
			d.bufSize = 16
			got, err := decodeAll(d)
			if err != nil || !sameResult(got, want) {
				t.Fatalf("%s@%d: error %v\n got %s\nwant %s", name, at, err, show(got), show(want))
			}
		}

		// With a small bound: the buffers never pass it, and the events
		// before an ErrEventTooLarge are the reference's first events.
		const limit = 24
		d := NewDecoder(chunks(in[:at], in[at:]))
		d.MaxEventSize = limit
		d.bufSize = 16
		var evs []Event
		for {
			e, err := d.Next()
			if n := len(d.data) + d.spanBytes + len(d.typ) + len(d.id) + len(d.tmp); n > limit {
				t.Fatalf("event buffers hold %d bytes, bound %d", n, limit)
			}
			if err == io.EOF {
				if !sameResult(refResult{Events: evs}, refResult{Events: want.Events}) {
					t.Fatalf("bounded decoder finished with different events")
				}
				break
			}
			if err != nil {
				if !errors.Is(err, ErrEventTooLarge) {
					t.Fatalf("bounded: unexpected error %v", err)
				}
				if len(evs) > len(want.Events) || !sameResult(refResult{Events: evs}, refResult{Events: want.Events[:len(evs)]}) {
					t.Fatalf("bounded: events before the error differ")
				}
				break
			}
			if len(e.Data)+len(e.Type)+len(e.ID) > limit+len("message") {
				t.Fatalf("bounded: dispatched an event of %d bytes", len(e.Data))
			}
			evs = append(evs, e)
		}
	})
}

// FuzzRoundTrip checks that every event the encoder accepts decodes back to
// itself: the same ID, the type ("message" for none), and the same data with
// CR and CRLF turned into LF and invalid UTF-8 replaced as any client would.
// It also checks that the encoder rejects exactly the IDs and types it
// cannot represent.
func FuzzRoundTrip(f *testing.F) {
	f.Add("1", "update", []byte(`{"a":1}`), int64(0))
	f.Add("", "", []byte(""), int64(0))
	f.Add("x", "", []byte("\n"), int64(1500))
	f.Add(" lead", " t", []byte(" a\n\n b\n"), int64(time.Second))
	f.Add("id", "t", []byte("a\rb\r\nc\r"), int64(-1))
	f.Add("\xFF", "\xE2\x82", []byte("\xF0\x9F\x98\n\xC3"), int64(1))
	f.Add("bad\n", "t", []byte("x"), int64(0))
	f.Add("bad\x00", "t\r", []byte("x"), int64(0))
	f.Add("", "", []byte(strings.Repeat("z", 100)+"\n"), int64(0))
	f.Fuzz(func(t *testing.T, id, typ string, data []byte, retry int64) {
		e := Event{ID: id, Type: typ, Data: data, Retry: time.Duration(retry)}
		b, err := AppendEvent(nil, &e)
		switch {
		case strings.ContainsAny(id, "\r\n\x00"):
			if !errors.Is(err, ErrInvalidID) {
				t.Fatalf("id %q: error %v, want ErrInvalidID", id, err)
			}
			return
		case strings.ContainsAny(typ, "\r\n"):
			if !errors.Is(err, ErrInvalidType) {
				t.Fatalf("type %q: error %v, want ErrInvalidType", typ, err)
			}
			return
		case err != nil:
			t.Fatalf("valid event rejected: %v", err)
		}
		// A comment and a second event after it must not disturb it.
		b = AppendComment(b, "between")
		b, _ = AppendEvent(b, &Event{Data: []byte("end")})

		want := Event{ID: clean(id), Type: clean(typ), Data: []byte(clean(normalize(string(data))))}
		if want.Type == "" {
			want.Type = "message"
		}
		if e.Retry > 0 {
			ms := e.Retry / time.Millisecond
			if e.Retry%time.Millisecond != 0 {
				ms++
			}
			want.Retry = time.Duration(math.MaxInt64) // what a too large value saturates to
			if ms <= math.MaxInt64/time.Millisecond {
				want.Retry = ms * time.Millisecond
			}
		}
		wantRes := refResult{Events: []Event{want, {ID: want.ID, Type: "message", Data: []byte("end")}}, LastID: want.ID}
		if e.Retry > 0 {
			wantRes.Retry, wantRes.RetrySet = want.Retry, true
		}
		d := NewDecoder(bytes.NewReader(b))
		d.bufSize = 16
		got, err := decodeAll(d)
		if err != nil || !sameResult(got, wantRes) {
			t.Fatalf("wire %q: error %v\n got %s\nwant %s", b, err, show(got), show(wantRes))
		}
	})
}

// normalize turns CRLF and CR into LF, as the wire format does.
func normalize(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}

// clean replaces invalid UTF-8 as the WHATWG decoder does.
func clean(s string) string { return refUTF8Decode([]byte("x" + s))[1:] }
