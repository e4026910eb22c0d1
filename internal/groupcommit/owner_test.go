package groupcommit_test

import (
	"testing"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/internal/groupcommit"
)

// TestOwner: owned copies keep their bytes when the caller's change, do
// not run into each other (each slice's capacity is its length), and nil
// stays nil.
func TestOwner(t *testing.T) {
	in := []*ssehub.Event{{Topic: "a", Data: []byte("one"), Meta: []byte(`{"m":1}`)}, {Topic: "b", Data: []byte("two")}}
	o := groupcommit.NewOwner([]*groupcommit.Request{{Events: in}})
	if o.Cap() != 2 {
		t.Fatalf("room for %d events, want 2", o.Cap())
	}
	a, b := o.Own(in[0]), o.Own(in[1])
	in[0].Data[0], in[1].Data[0] = 'X', 'X'
	if string(a.Data) != "one" || string(a.Meta) != `{"m":1}` || string(b.Data) != "two" || b.Meta != nil {
		t.Fatalf("owned copies: %q %q %q %v", a.Data, a.Meta, b.Data, b.Meta)
	}
	if cap(a.Data) != len(a.Data) || cap(a.Meta) != len(a.Meta) {
		t.Fatal("an owned slice has room past its end: an append would overwrite the next one")
	}
}
