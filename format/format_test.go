package format_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/format"
)

func TestBuiltins(t *testing.T) {
	ev := &ssehub.Event{ID: 42, Topic: "user.login", Type: "login", Key: "evt_abc", Data: []byte("a\nb"), Time: time.Date(2024, 3, 15, 10, 0, 0, 0, time.UTC)}
	raw := string(format.Raw.Encode(nil, ev, "42"))
	if raw != "event: login\nid: 42\ndata: a\ndata: b\n\n" {
		t.Errorf("raw: %q", raw)
	}
	env := string(format.Envelope.Encode(nil, ev, "42"))
	want := "event: message\nid: 42\ndata: {\"id\":42,\"event_id\":\"evt_abc\",\"event_type\":\"user.login\",\"type\":\"login\",\"entity_id\":null,\"created_at\":\"2024-03-15T10:00:00Z\",\"data\":\"a\\nb\",\"source\":null,\"meta\":{}}\n\n"
	if env != want {
		t.Errorf("envelope:\n%q\nwant\n%q", env, want)
	}
	if got := string(format.Raw.Encode(nil, &ssehub.Event{Type: "bad\ntype", Data: []byte("x")}, "1")); got != "id: 1\ndata: x\n\n" {
		t.Errorf("a corrupt type must drop the type, not the event: %q", got)
	}
}

type upper struct{}

func (upper) Name() string { return "test-upper" }
func (upper) Encode(dst []byte, ev *ssehub.Event, id string) []byte {
	return append(dst, "data: "+string(ev.Data)+"\n\n"...)
}

func TestRegistry(t *testing.T) {
	i, err := format.Register(upper{})
	if err != nil {
		t.Fatal(err)
	}
	if j, err := format.Register(upper{}); err != nil || j != i {
		t.Fatalf("re-registering the same format: %d %v", j, err)
	}
	f, k, ok := format.Lookup("test-upper")
	if !ok || k != i || format.ByIndex(i) != f {
		t.Fatal("lookup after register")
	}
	if _, err := format.Parse("nope"); err == nil {
		t.Fatal("an unknown format parsed")
	}
	if f, err := format.Parse(""); err != nil || f.Name() != "envelope" {
		t.Fatalf("default format %v %v", f, err)
	}
}

func ExampleLookup() {
	f, _, _ := format.Lookup("raw")
	fmt.Printf("%q\n", f.Encode(nil, &ssehub.Event{Type: "price", Data: []byte(`{"px":12.5}`)}, "7"))
	// Output: "event: price\nid: 7\ndata: {\"px\":12.5}\n\n"
}
