package record_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/internal/record"
)

// TestRoundTrip checks that a body decodes to the event it was made of,
// that Info reports the event's Size and time, that Len bounds the body,
// and that every truncation of a body is refused as corrupt (never a
// panic, never a wrong event).
func TestRoundTrip(t *testing.T) {
	ev := &ssehub.Event{Topic: "orders.created", Type: "created", Key: "k-1", Entity: "order-7", Source: "shop",
		Meta: []byte(`{"m":1}`), Data: []byte(`{"total":42}`), Time: time.Unix(1764590400, 123456789).UTC()}
	b := record.Append([]byte("prefix"), ev)[len("prefix"):]
	if len(b) > record.Len(ev) {
		t.Errorf("body of %d bytes, Len says at most %d", len(b), record.Len(ev))
	}
	topic, _, err := record.Topic(b)
	if err != nil || string(topic) != ev.Topic {
		t.Fatalf("Topic: %q %v", topic, err)
	}
	got, err := record.DecodeOwned(7, b)
	if err != nil {
		t.Fatal(err)
	}
	want := *ev
	want.ID = 7
	if got.Topic != want.Topic || got.Type != want.Type || got.Key != want.Key || got.Entity != want.Entity ||
		got.Source != want.Source || !bytes.Equal(got.Meta, want.Meta) || !bytes.Equal(got.Data, want.Data) ||
		!got.Time.Equal(want.Time) || got.ID != 7 {
		t.Errorf("decoded %+v, want %+v", got, want)
	}
	if cap(got.Data) != len(got.Data) || &got.Data[0] == &b[len(b)-len(got.Data)] {
		t.Error("DecodeOwned's data aliases the body or has spare capacity")
	}
	tb, size, ns, err := record.Info(b)
	if err != nil || string(tb) != ev.Topic || size != int64(ev.Size()) || ns != ev.Time.UnixNano() {
		t.Errorf("Info: %q %d %d %v; want %q %d %d", tb, size, ns, err, ev.Topic, ev.Size(), ev.Time.UnixNano())
	}
	for n := range len(b) - len(ev.Data) {
		var e ssehub.Event
		if err := record.Decode(&e, 1, ev.Topic, b[:n]); !errors.Is(err, record.ErrCorrupt) {
			t.Errorf("a body cut to %d bytes: %v, want ErrCorrupt", n, err)
		}
	}
}
