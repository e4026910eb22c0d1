package sse

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestAppendEvent(t *testing.T) {
	cases := []struct {
		name string
		ev   Event
		want string
	}{
		{"data only", Event{Data: []byte("hello")}, "data: hello\n\n"},
		{"empty data", Event{}, "data:\n\n"},
		{"all fields", Event{ID: "7", Type: "update", Data: []byte("{}"), Retry: 3 * time.Second},
			"event: update\nid: 7\nretry: 3000\ndata: {}\n\n"}, // the seeds' order
		{"lines", Event{Data: []byte("a\nb\nc")}, "data: a\ndata: b\ndata: c\n\n"},
		{"trailing newline", Event{Data: []byte("a\n")}, "data: a\ndata:\n\n"},
		{"only newline", Event{Data: []byte("\n")}, "data:\ndata:\n\n"},
		{"blank lines", Event{Data: []byte("\n\n")}, "data:\ndata:\ndata:\n\n"},
		{"CRLF", Event{Data: []byte("a\r\nb")}, "data: a\ndata: b\n\n"},
		{"lone CR", Event{Data: []byte("a\rb\r")}, "data: a\ndata: b\ndata:\n\n"},
		{"CR CR LF", Event{Data: []byte("a\r\r\nb")}, "data: a\ndata:\ndata: b\n\n"},
		{"leading space", Event{Data: []byte(" x\n  y")}, "data:  x\ndata:   y\n\n"},
		{"colon in data", Event{Data: []byte(": not a comment")}, "data: : not a comment\n\n"},
		{"id with leading space", Event{ID: " 1", Data: []byte("x")}, "id:  1\ndata: x\n\n"},
		{"type with colon", Event{Type: "a:b", Data: []byte("x")}, "event: a:b\ndata: x\n\n"},
		{"NUL in type and data", Event{Type: "a\x00", Data: []byte("\x00")}, "event: a\x00\ndata: \x00\n\n"},
		{"retry rounded up", Event{Retry: 1500 * time.Microsecond}, "retry: 2\ndata:\n\n"},
		{"retry below 1ms", Event{Retry: 1}, "retry: 1\ndata:\n\n"},
		{"negative retry omitted", Event{Retry: -time.Second}, "data:\n\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := AppendEvent([]byte("prefix"), &c.ev)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "prefix"+c.want {
				t.Fatalf("got %q\nwant %q", got, "prefix"+c.want)
			}
		})
	}
}

func TestAppendEventRejects(t *testing.T) {
	cases := []struct {
		ev   Event
		want error
	}{
		{Event{ID: "a\nb"}, ErrInvalidID},
		{Event{ID: "a\rb"}, ErrInvalidID},
		{Event{ID: "a\x00b"}, ErrInvalidID},
		{Event{ID: "\n"}, ErrInvalidID},
		{Event{Type: "a\nb"}, ErrInvalidType},
		{Event{Type: "a\r"}, ErrInvalidType},
		{Event{ID: "1", Type: "\r\n"}, ErrInvalidType},
	}
	for _, c := range cases {
		dst := []byte("keep")
		got, err := AppendEvent(dst, &c.ev)
		if !errors.Is(err, c.want) {
			t.Fatalf("%+v: error %v, want %v", c.ev, err, c.want)
		}
		if string(got) != "keep" {
			t.Fatalf("%+v: dst changed to %q", c.ev, got)
		}
	}
	if ValidateID("ok id") != nil || ValidateType("ok.type") != nil {
		t.Fatal("valid values rejected")
	}
}

func TestAppendComment(t *testing.T) {
	cases := map[string]string{
		"":         ":\n",
		"ping":     ": ping\n",
		"a\nb":     ": a\n: b\n",
		"a\r\nb\r": ": a\n: b\n:\n",
	}
	for in, want := range cases {
		if got := AppendComment(nil, in); string(got) != want {
			t.Fatalf("AppendComment(%q) = %q, want %q", in, got, want)
		}
		// A comment never changes what a client sees.
		stream := append(AppendComment([]byte("data: x\n"), in), "\n"...)
		checkAllSplits(t, stream, refResult{Events: []Event{ev("", "message", "x")}})
	}
}

func TestAppendRetry(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "retry: 0\n", -5: "retry: 0\n", time.Millisecond: "retry: 1\n",
		time.Hour: "retry: 3600000\n", time.Nanosecond: "retry: 1\n",
	} {
		if got := string(AppendRetry(nil, d)); got != want {
			t.Fatalf("AppendRetry(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestAppendEventNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	e := &Event{ID: "12345", Type: "update", Data: []byte(`{"a":1}` + "\n" + `{"b":2}`), Retry: time.Second}
	buf := make([]byte, 0, 256)
	allocs := testing.AllocsPerRun(100, func() {
		buf, _ = AppendEvent(buf[:0], e)
	})
	if allocs != 0 {
		t.Fatalf("AppendEvent allocated %v times with enough capacity", allocs)
	}
	cr := &Event{Data: []byte("a\r\nb\rc")}
	if allocs := testing.AllocsPerRun(100, func() { buf, _ = AppendEvent(buf[:0], cr) }); allocs != 0 {
		t.Fatalf("AppendEvent with CR allocated %v times", allocs)
	}
	// Without capacity, it grows once.
	if allocs := testing.AllocsPerRun(100, func() { AppendEvent(nil, e) }); allocs != 1 {
		t.Fatalf("AppendEvent(nil) allocated %v times, want 1", allocs)
	}
}

// roundTrip encodes e and decodes it, with every way of splitting reads.
func roundTrip(t *testing.T, e Event) {
	t.Helper()
	b, err := AppendEvent(nil, &e)
	if err != nil {
		t.Fatal(err)
	}
	want := e
	if want.Type == "" {
		want.Type = "message"
	}
	d := NewDecoder(bytes.NewReader(b))
	got, err := decodeAll(d)
	if err != nil || len(got.Events) != 1 {
		t.Fatalf("decode: %v, %d events", err, len(got.Events))
	}
	g := got.Events[0]
	if g.ID != want.ID || g.Type != want.Type || !bytes.Equal(g.Data, want.Data) || g.Retry != want.Retry {
		t.Fatalf("round trip of %.100q gave %.100q", e.Data, g.Data)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, data := range []string{
		"", "\n", "\n\n", "a\n", "\na", " x", "  x\n ", ":x", "a\x00b", "é\n𝄞",
		strings.Repeat("x", 40<<10),                     // one line over 32 KiB
		strings.Repeat("y", 200<<10) + "\n" + "z",       // longer than the read buffer
		strings.Repeat(strings.Repeat("j", 99)+"\n", 3), // several lines
	} {
		roundTrip(t, Event{ID: "id", Type: "t", Data: []byte(data)})
		roundTrip(t, Event{Data: []byte(data), Retry: 250 * time.Millisecond})
	}
}

func TestRoundTrip10MB(t *testing.T) {
	var b bytes.Buffer
	for b.Len() < 10<<20 {
		b.WriteString(`{"seq":12345,"payload":"lorem ipsum dolor sit amet"}`)
		if b.Len()%7 == 0 {
			b.WriteString("\n\n")
		}
		b.WriteByte('\n')
	}
	roundTrip(t, Event{ID: "big", Data: b.Bytes()})
	roundTrip(t, Event{Data: bytes.Repeat([]byte("q"), 10<<20)}) // one 10 MB line
}

func TestCRArrivesAsLF(t *testing.T) {
	// Documented: CR and CRLF in data come back as LF.
	b, _ := AppendEvent(nil, &Event{Data: []byte("a\rb\r\nc")})
	e, err := NewDecoder(bytes.NewReader(b)).Next()
	if err != nil || string(e.Data) != "a\nb\nc" {
		t.Fatalf("got %q, %v", e.Data, err)
	}
}

func TestEncoder(t *testing.T) {
	var w bytes.Buffer
	enc := NewEncoder(&w)
	if err := enc.Comment("hi"); err != nil {
		t.Fatal(err)
	}
	if err := enc.Encode(&Event{ID: "1", Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if err := enc.Encode(&Event{ID: "\n"}); !errors.Is(err, ErrInvalidID) {
		t.Fatalf("error %v", err)
	}
	if got := w.String(); got != ": hi\nid: 1\ndata: x\n\n" {
		t.Fatalf("wrote %q", got)
	}
}

func TestAppendTightComment(t *testing.T) {
	for in, want := range map[string]string{"keepalive": ":keepalive\n", "a\nb": ":a\n:b\n", "": ":\n", " x": ": x\n"} {
		if got := string(AppendTightComment([]byte("data: x\n"), in)); got != "data: x\n"+want {
			t.Errorf("%q: %q, want %q", in, got, "data: x\n"+want)
		}
	}
}
