package bolt

import (
	"errors"
	"testing"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/internal/record"
)

// TestFlippedFormatByte: a checksummed record whose first byte (0, the
// format mark) has one bit flipped reads as a record of the older,
// unchecksummed format; it must be refused as corrupt, not decoded into
// another event. TestCorruptFilesNeverCrash found it at random: "one
// flipped bit in leaf page 128" opened a store of 6,000 events whose
// digest had changed.
func TestFlippedFormatByte(t *testing.T) {
	for _, ev := range []*ssehub.Event{
		{Topic: "orders.created", Data: []byte(`{"total":42}`)},
		{Topic: "a", Type: "t", Key: "k", Data: make([]byte, 300)},
		{Topic: "x", Data: nil},
	} {
		v := encodeEvent(nil, ev)
		for bit := range 8 {
			w := append([]byte(nil), v...)
			w[0] ^= 1 << bit
			if _, err := decodeOwned(7, w); !errors.Is(err, record.ErrCorrupt) {
				t.Errorf("%q with bit %d of its format byte flipped: %v, want a corrupt record", ev.Topic, bit, err)
			}
			if _, _, _, err := recordInfo(w); !errors.Is(err, record.ErrCorrupt) {
				t.Errorf("%q with bit %d flipped: recordInfo %v, want a corrupt record", ev.Topic, bit, err)
			}
		}
	}
	// A record of the older format still reads.
	old := record.Append(nil, &ssehub.Event{Topic: "orders.created", Data: []byte("x")})
	if ev, err := decodeOwned(7, old); err != nil || ev.Topic != "orders.created" || string(ev.Data) != "x" {
		t.Fatalf("an unchecksummed record of the older format: %+v, %v", ev, err)
	}
}
