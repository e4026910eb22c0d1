package envelope_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/envelope"
)

// TestPartKey: part keys differ from every key a client can send and show
// as the publisher's key, scoped or not.
func TestPartKey(t *testing.T) {
	if envelope.PartKey("", 3) != "" {
		t.Fatal("no key, no part key")
	}
	p := envelope.PartKey("k", 1)
	if p == "k#1" || p == "k1" || p == "k-1" {
		t.Fatalf("part key %q is a key a client can send", p)
	}
	for _, key := range []string{p, envelope.ScopedKey("web", p), envelope.ScopedKey(`{"id":1,"name":"w"}`, p)} {
		if got := envelope.EventID(key); got != "k" {
			t.Errorf("EventID(%q) = %q, want k", key, got)
		}
	}
	b := envelope.Append(nil, &ssehub.Event{ID: 1, Topic: "a", Key: p})
	if !strings.Contains(string(b), `"event_id":"k"`) {
		t.Fatalf("envelope %s", b)
	}
}

func ExamplePartKey() {
	// An Arrow stream of three batches ingested with key "order-7".
	for i := range 3 {
		key := envelope.PartKey("order-7", i)
		fmt.Printf("%q %s\n", key, envelope.EventID(key))
	}
	// Output:
	// "order-7\x1e0" order-7
	// "order-7\x1e1" order-7
	// "order-7\x1e2" order-7
}
