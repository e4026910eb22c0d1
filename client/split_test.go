package client

import (
	"net/http"
	"reflect"
	"strconv"
	"testing"
	"time"
)

// splitStream exercises the parser across reads: BOM, CR, LF and CRLF line
// ends, comments, unknown fields, field without colon, retry, multi-line
// data, an id reset, and multi-byte UTF-8 characters.
const splitStream = "\ufeffdata: zero\r\n\r\nretry: 5\r\n: comment\r\nid: α1\r\nevent: greet\r\ndata: héllo\r\ndata\r\n\r\n" +
	"data:x\rdata: 😀 y\r\rfoo: bar\nid\ndata:  two spaces\n\n" +
	"event: end\ndata: €\n\ndata: partial, never dispatched\n"

// Whatever the split point, a stream written in two flushed chunks gives
// the same events.
func TestStreamSplitAtEveryByte(t *testing.T) {
	checkGoroutines(t)
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		i, _ := strconv.Atoi(r.URL.Query().Get("split"))
		stream(w, splitStream[:i])
		time.Sleep(time.Millisecond) // let the client read the first chunk alone
		w.Write([]byte(splitStream[i:]))
	})
	read := func(split int, initialID string) []fmtEvent {
		c := testClient(t, s.URL+"?split="+strconv.Itoa(split), WithReconnect(false), WithLastEventID(initialID))
		var evs []fmtEvent
		for ev, err := range c.Events(ctxT(t)) {
			if err != nil {
				t.Fatalf("split %d: %v", split, err)
			}
			evs = append(evs, fmtEvent{ev.Type, string(ev.Data), ev.ID})
		}
		if c.ReconnectionTime() != 5*time.Millisecond {
			t.Fatalf("split %d: retry %v", split, c.ReconnectionTime())
		}
		return evs
	}
	want := []fmtEvent{
		{"message", "zero", ""},
		{"greet", "héllo\n", "α1"},
		{"message", "x\n😀 y", "α1"},
		{"message", " two spaces", ""},
		{"end", "€", ""},
	}
	// The same with an initial last event ID, which the first event reports.
	wantInit := append([]fmtEvent{{"message", "zero", "init"}}, want[1:]...)
	for i := 0; i <= len(splitStream); i++ {
		if got := read(i, ""); !reflect.DeepEqual(got, want) {
			t.Fatalf("split at byte %d: %v\nwant %v", i, eventsString(got), eventsString(want))
		}
		if got := read(i, "init"); !reflect.DeepEqual(got, wantInit) {
			t.Fatalf("initial ID, split at byte %d: %v\nwant %v", i, eventsString(got), eventsString(wantInit))
		}
	}
}
