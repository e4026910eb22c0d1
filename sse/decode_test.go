package sse

import (
	"bytes"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"
)

// ev builds an expected event.
func ev(id, typ, data string) Event {
	return Event{ID: id, Type: typ, Data: []byte(data)}
}

// decodeCase is one stream and what a client must make of it.
type decodeCase struct {
	name string
	in   string
	want refResult
}

var decodeCases = []decodeCase{
	// Fields and values.
	{"data with space", "data: x\n\n", refResult{Events: []Event{ev("", "message", "x")}}},
	{"data without space", "data:x\n\n", refResult{Events: []Event{ev("", "message", "x")}}},
	{"only one space removed", "data:  x\n\n", refResult{Events: []Event{ev("", "message", " x")}}},
	{"tab is not removed", "data:\tx\n\n", refResult{Events: []Event{ev("", "message", "\tx")}}},
	{"trailing space kept", "data: x \n\n", refResult{Events: []Event{ev("", "message", "x ")}}},
	{"colon in value", "data: a:b: c\n\n", refResult{Events: []Event{ev("", "message", "a:b: c")}}},
	{"data alone", "data\n\n", refResult{Events: []Event{ev("", "message", "")}}},
	{"data colon alone", "data:\n\n", refResult{Events: []Event{ev("", "message", "")}}},
	{"data colon space alone", "data: \n\n", refResult{Events: []Event{ev("", "message", "")}}},
	{"two data lines", "data: a\ndata: b\n\n", refResult{Events: []Event{ev("", "message", "a\nb")}}},
	{"empty data lines", "data\ndata\n\n", refResult{Events: []Event{ev("", "message", "\n")}}},
	{"trailing empty data line", "data: a\ndata:\n\n", refResult{Events: []Event{ev("", "message", "a\n")}}},
	{"wrong case field", "Data: x\n\n", refResult{}},
	{"wrong case event", "Event: e\ndata: x\n\n", refResult{Events: []Event{ev("", "message", "x")}}},
	{"space before colon", "data : x\n\n", refResult{}},
	{"leading space in name", " data: x\n\n", refResult{}},
	{"unknown field", "foo: bar\ndata: x\nfoo\n\n", refResult{Events: []Event{ev("", "message", "x")}}},
	{"field without colon ignored", "dat\ndata: x\n\n", refResult{Events: []Event{ev("", "message", "x")}}},
	{"NUL in data", "data: a\x00b\n\n", refResult{Events: []Event{ev("", "message", "a\x00b")}}},

	// Comments.
	{"comment", ": hello\ndata: x\n\n", refResult{Events: []Event{ev("", "message", "x")}}},
	{"empty comment", ":\n\n", refResult{}},
	{"comment inside event", "data: a\n: c\ndata: b\n\n", refResult{Events: []Event{ev("", "message", "a\nb")}}},
	{"comment only stream", ": a\n: b\n\n\n", refResult{}},

	// Event type.
	{"event type", "event: e\ndata: x\n\n", refResult{Events: []Event{ev("", "e", "x")}}},
	{"empty event type", "event\ndata: x\n\n", refResult{Events: []Event{ev("", "message", "x")}}},
	{"event type last wins", "event: a\nevent: b\ndata: x\n\n", refResult{Events: []Event{ev("", "b", "x")}}},
	{"event type reset after dispatch", "event: e\ndata: x\n\ndata: y\n\n",
		refResult{Events: []Event{ev("", "e", "x"), ev("", "message", "y")}}},
	{"event type reset by blank line without data", "event: e\n\ndata: x\n\n",
		refResult{Events: []Event{ev("", "message", "x")}}},

	// Dispatch.
	{"no data no event", "event: e\nid: 1\n\n", refResult{LastID: "1"}},
	{"extra blank lines", "data: x\n\n\n\n", refResult{Events: []Event{ev("", "message", "x")}}},
	{"EOF without blank line", "data: a\n\ndata: b\n", refResult{Events: []Event{ev("", "message", "a")}}},
	{"EOF mid line", "data: a\n\ndata: b", refResult{Events: []Event{ev("", "message", "a")}}},
	{"EOF after CR-ended field", "data: a\r", refResult{}},
	{"empty stream", "", refResult{}},

	// Last event ID.
	{"id", "id: 1\ndata: x\n\n", refResult{Events: []Event{ev("1", "message", "x")}, LastID: "1"}},
	{"id persists", "id: 1\ndata: x\n\ndata: y\n\n",
		refResult{Events: []Event{ev("1", "message", "x"), ev("1", "message", "y")}, LastID: "1"}},
	{"empty id resets", "id: 1\ndata: x\n\nid\ndata: y\n\n",
		refResult{Events: []Event{ev("1", "message", "x"), ev("", "message", "y")}}},
	{"id colon empty resets", "id: 1\ndata: x\n\nid:\ndata: y\n\n",
		refResult{Events: []Event{ev("1", "message", "x"), ev("", "message", "y")}}},
	{"id set without dispatch", "id: 7\n\n", refResult{LastID: "7"}},
	{"id after data in block", "data: x\nid: 2\n\n", refResult{Events: []Event{ev("2", "message", "x")}, LastID: "2"}},
	{"id without blank line not committed", "id: 1\ndata: x\n\nid: 2\n", refResult{Events: []Event{ev("1", "message", "x")}, LastID: "1"}},
	{"id with NUL ignored", "id: 1\n\nid: a\x00b\ndata: x\n\n", refResult{Events: []Event{ev("1", "message", "x")}, LastID: "1"}},
	{"id only NUL ignored", "id: \x00\ndata: x\n\n", refResult{Events: []Event{ev("", "message", "x")}}},
	{"id keeps second space", "id:  1\ndata: x\n\n", refResult{Events: []Event{ev(" 1", "message", "x")}, LastID: " 1"}},
	{"id unicode", "id: é\ndata: x\n\n", refResult{Events: []Event{ev("é", "message", "x")}, LastID: "é"}},

	// Retry.
	{"retry", "retry: 1500\n", refResult{Retry: 1500 * time.Millisecond, RetrySet: true}},
	{"retry zero", "retry: 0\n", refResult{RetrySet: true}},
	{"retry leading zeros", "retry: 0012\n", refResult{Retry: 12 * time.Millisecond, RetrySet: true}},
	{"retry bogus", "retry: 12a\n", refResult{}},
	{"retry negative", "retry: -1\n", refResult{}},
	{"retry decimal", "retry: 1.5\n", refResult{}},
	{"retry empty", "retry\n", refResult{}},
	{"retry colon empty", "retry:\n", refResult{}},
	{"retry two spaces", "retry:  10\n", refResult{}},
	{"retry trailing space", "retry: 10 \n", refResult{}},
	{"retry fullwidth digit", "retry: １\n", refResult{}},
	{"retry bogus keeps previous", "retry: 10\nretry: x\n", refResult{Retry: 10 * time.Millisecond, RetrySet: true}},
	{"retry huge saturates", "retry: 99999999999999999999999999\n", refResult{Retry: math.MaxInt64, RetrySet: true}},
	{"retry in event", "retry: 5\ndata: x\n\n",
		refResult{Events: []Event{{Type: "message", Data: []byte("x"), Retry: 5 * time.Millisecond}}, Retry: 5 * time.Millisecond, RetrySet: true}},

	// Line ends.
	{"CRLF", "data: a\r\ndata: b\r\n\r\n", refResult{Events: []Event{ev("", "message", "a\nb")}}},
	{"CR", "data: a\rdata: b\r\r", refResult{Events: []Event{ev("", "message", "a\nb")}}},
	{"mixed", "data: a\rdata: b\r\ndata: c\n\r\n", refResult{Events: []Event{ev("", "message", "a\nb\nc")}}},
	{"CR CR LF is two line ends", "data: a\r\r\ndata: b\n\n", refResult{Events: []Event{ev("", "message", "a"), ev("", "message", "b")}}},
	{"LF CR is two line ends", "data: a\n\rdata: b\n\n", refResult{Events: []Event{ev("", "message", "a"), ev("", "message", "b")}}},
	{"CR in value ends line", "data: a\rb\n\n", refResult{Events: []Event{ev("", "message", "a")}}},

	// Byte order mark.
	{"BOM", "\xEF\xBB\xBFdata: x\n\n", refResult{Events: []Event{ev("", "message", "x")}}},
	{"second BOM is content", "\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\n", refResult{}},
	{"BOM later is content", "data: x\n\n\xEF\xBB\xBFdata: y\n\n", refResult{Events: []Event{ev("", "message", "x")}}},
	{"BOM in value", "data: \xEF\xBB\xBFx\n\n", refResult{Events: []Event{ev("", "message", "\uFEFFx")}}},
	{"partial BOM", "\xEF\xBBdata: x\n\n", refResult{}},
	{"partial BOM alone", "\xEF\xBB", refResult{}},
	{"partial BOM line", "\xEF\xBB\n\ndata: x\n\n", refResult{Events: []Event{ev("", "message", "x")}}},

	// UTF-8.
	{"valid UTF-8", "data: héllo → 𝄞\n\n", refResult{Events: []Event{ev("", "message", "héllo → 𝄞")}}},
	{"invalid byte", "data: a\xFFb\n\n", refResult{Events: []Event{ev("", "message", "a\uFFFDb")}}},
	{"truncated sequence", "data: \xE2\x82x\n\n", refResult{Events: []Event{ev("", "message", "\uFFFDx")}}},
	{"truncated at line end", "data: x\xF0\x9F\x98\n\n", refResult{Events: []Event{ev("", "message", "x\uFFFD")}}},
	{"lone continuation bytes", "data: \x80\x80\n\n", refResult{Events: []Event{ev("", "message", "\uFFFD\uFFFD")}}},
	{"overlong", "data: \xC0\xAF\xE0\x80\xAF\n\n", refResult{Events: []Event{ev("", "message", "\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD")}}},
	{"surrogate", "data: \xED\xA0\x80\n\n", refResult{Events: []Event{ev("", "message", "\uFFFD\uFFFD\uFFFD")}}},
	{"above U+10FFFF", "data: \xF4\x90\x80\x80\n\n", refResult{Events: []Event{ev("", "message", "\uFFFD\uFFFD\uFFFD\uFFFD")}}},
	{"F5 lead", "data: \xF5\x80\n\n", refResult{Events: []Event{ev("", "message", "\uFFFD\uFFFD")}}},
	{"invalid in field name", "dat\xFF: x\ndata: y\n\n", refResult{Events: []Event{ev("", "message", "y")}}},
	{"invalid in type", "event: \xFF\ndata: y\n\n", refResult{Events: []Event{ev("", "\uFFFD", "y")}}},
	{"invalid in id", "id: \xC3\ndata: y\n\n", refResult{Events: []Event{ev("\uFFFD", "message", "y")}, LastID: "\uFFFD"}},
}

func TestDecodeCases(t *testing.T) {
	for _, c := range decodeCases {
		t.Run(c.name, func(t *testing.T) {
			// The naive reference must agree with the table, and the
			// decoder with both, however the stream is split.
			if ref := refDecode([]byte(c.in)); !sameResult(ref, c.want) {
				t.Fatalf("reference: input %q\n got %s\nwant %s", c.in, show(ref), show(c.want))
			}
			checkAllSplits(t, []byte(c.in), c.want)
		})
	}
}

func TestLastEventIDAsOfBlankLine(t *testing.T) {
	d := NewDecoder(strings.NewReader("id: 1\ndata: a\n\nid: 2\n\nid: 3\ndata: b\n\nid: 4\n"))
	var ids []string
	for {
		e, err := d.Next()
		if err != nil {
			break
		}
		ids = append(ids, e.ID+"/"+d.LastEventID())
	}
	if got := strings.Join(ids, ","); got != "1/1,3/3" {
		t.Fatalf("ids at dispatch = %s", got)
	}
	// "id: 2" then a blank line updated it; the final "id: 4" has no blank line.
	if d.LastEventID() != "3" {
		t.Fatalf("LastEventID() = %q, want 3", d.LastEventID())
	}
}

func TestRetryUnsetInitially(t *testing.T) {
	d := NewDecoder(strings.NewReader("data: x\n\n"))
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	if r, ok := d.Retry(); ok || r != 0 {
		t.Fatalf("Retry() = %v, %v", r, ok)
	}
}

func TestDecodeEventIsDispatchedWithoutWaiting(t *testing.T) {
	// A live stream: the event must come out as soon as its blank line
	// (here a lone CR) has been read, without reading further.
	pr, pw := io.Pipe()
	defer pr.Close()
	go func() {
		pw.Write([]byte("data: a\r\r"))
		// Leave the pipe open: Next must not block on it.
	}()
	d := NewDecoder(pr)
	e, err := d.Next()
	if err != nil || string(e.Data) != "a" {
		t.Fatalf("Next() = %q, %v", e.Data, err)
	}
	go pw.Write([]byte("\ndata: b\n\n"))
	e, err = d.Next()
	if err != nil || string(e.Data) != "b" {
		t.Fatalf("second Next() = %q, %v; the LF after the CR must be skipped as one line end", e.Data, err)
	}
	pw.Close()
}

func TestReadErrorIsReturned(t *testing.T) {
	boom := errors.New("boom")
	d := NewDecoder(io.MultiReader(strings.NewReader("data: a\n\ndata: b\n"), errReader{boom}))
	if e, err := d.Next(); err != nil || string(e.Data) != "a" {
		t.Fatalf("Next() = %q, %v", e.Data, err)
	}
	for range 2 {
		if _, err := d.Next(); !errors.Is(err, boom) {
			t.Fatalf("Next() error = %v, want boom (sticky)", err)
		}
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestEOFIsSticky(t *testing.T) {
	d := NewDecoder(strings.NewReader("data: a\n\n"))
	d.Next()
	for range 3 {
		if _, err := d.Next(); err != io.EOF {
			t.Fatalf("Next() error = %v, want io.EOF", err)
		}
	}
}

func TestTypeAndIDStringsReused(t *testing.T) {
	in := strings.Repeat("id: 42\nevent: update\ndata: x\n\n", 3)
	d := NewDecoder(strings.NewReader(in))
	a, _ := d.Next()
	b, _ := d.Next()
	if a.Type != "update" || a.ID != "42" {
		t.Fatalf("got %q %q", a.Type, a.ID)
	}
	if unsafeStringData(a.Type) != unsafeStringData(b.Type) || unsafeStringData(a.ID) != unsafeStringData(b.ID) {
		t.Fatal("equal type and id strings were allocated again")
	}
}

func TestDecodeOneAllocationPerEvent(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	var b []byte
	for i := range 100 {
		b, _ = AppendEvent(b, &Event{ID: strings.Repeat("1", i%7+1) + string(rune('a'+i%26)), Type: []string{"a", "b", "c"}[i%3],
			Data: []byte(`{"k":"v"}` + "\n" + `{"k":"w"}`)})
	}
	d := NewDecoder(bytes.NewReader(b))
	d.Next() // allocate the read buffer and intern the types
	d.Next()
	d.Next()
	allocs := testing.AllocsPerRun(50, func() {
		if _, err := d.Next(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 {
		t.Fatalf("%v allocations per event, want at most 1", allocs)
	}
}

func TestDataCapacityIsCapped(t *testing.T) {
	// Data shares its allocation with the ID string; appending to Data
	// must not overwrite the ID.
	d := NewDecoder(strings.NewReader("id: abc\ndata: x\n\n"))
	e, err := d.Next()
	if err != nil {
		t.Fatal(err)
	}
	e.Data = append(e.Data, "zzz"...)
	if e.ID != "abc" || d.LastEventID() != "abc" {
		t.Fatalf("ID changed to %q / %q", e.ID, d.LastEventID())
	}
}
