package pull

import (
	"reflect"
	"testing"
)

func TestStateRoundTrip(t *testing.T) {
	st := &state{Cursor: 42, LastBatch: 9, Lost: 3,
		Batches: []*batch{{ID: 8, Expires: 1700000000123, Events: []ref{{10, "a.b"}, {12, "c"}, {40, "a.b"}}}, {ID: 9, Expires: -5, Events: []ref{{41, "c"}}}},
		Done:    []ref{{50, "a.b"}, {77, "z"}}}
	back, err := decodeState(st.encode())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(st, back) {
		t.Fatalf("round trip:\n%+v\n%+v", st, back)
	}
	empty, err := decodeState((&state{}).encode())
	if err != nil || empty.Cursor != 0 || len(empty.Batches) != 0 {
		t.Fatalf("empty state: %+v %v", empty, err)
	}
	b := st.encode()
	for i := range b {
		if _, err := decodeState(b[:i]); err == nil {
			t.Fatalf("a state cut at %d of %d bytes decoded", i, len(b))
		}
	}
}
