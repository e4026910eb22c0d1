package groupcommit

import (
	"fmt"
	"strings"

	"github.com/ssehub/ssehub"
)

// Limits are what a store can hold of one Append, checked before it is
// queued (Check).
type Limits struct {
	MaxBatch  int   // events in one Append
	MaxKeyLen int   // bytes of a key: a topic and 9 (its index key), a topic, 1 and an idempotency key
	MaxRecord int   // bytes of one encoded event
	MaxBytes  int64 // retention's max_bytes, or 0: the events of one Append together
}

// Check refuses, before anything is queued, what the store would refuse
// inside the transaction, so that one request's event never fails the
// other requests committed with it. encodedLen is the size of an event as
// the store encodes it. It returns the events' Event.Size added up.
func Check(events []*ssehub.Event, lim Limits, encodedLen func(*ssehub.Event) int) (int64, error) {
	if len(events) > lim.MaxBatch {
		return 0, fmt.Errorf("%w: a batch holds at most %d events, this one %d", ssehub.ErrTooLarge, lim.MaxBatch, len(events))
	}
	var size int64
	for i, e := range events {
		switch {
		case e.Topic == "":
			return 0, fmt.Errorf("event %d: %w: empty", i, ssehub.ErrInvalidTopic)
		case strings.IndexByte(e.Topic, 0) >= 0:
			return 0, fmt.Errorf("event %d: %w: contains a NUL byte", i, ssehub.ErrInvalidTopic)
		case len(e.Topic)+9 > lim.MaxKeyLen:
			return 0, fmt.Errorf("%w: event %d: topic of %d bytes is longer than the store's %d", ssehub.ErrTooLarge, i, len(e.Topic), lim.MaxKeyLen-9)
		case e.Key != "" && len(e.Topic)+1+len(e.Key) > lim.MaxKeyLen:
			return 0, fmt.Errorf("%w: event %d: idempotency key of %d bytes (with its topic, %d) is longer than the store's %d",
				ssehub.ErrTooLarge, i, len(e.Key), len(e.Topic)+1+len(e.Key), lim.MaxKeyLen)
		}
		if n := encodedLen(e); n > lim.MaxRecord {
			return 0, fmt.Errorf("%w: event %d takes %d bytes, more than the store's %d", ssehub.ErrTooLarge, i, n, lim.MaxRecord)
		}
		size += int64(e.Size())
	}
	if m := lim.MaxBytes; m > 0 && size > m {
		return 0, fmt.Errorf("%w: the batch takes %d bytes, more than the retained maximum (max_bytes) of %d", ssehub.ErrTooLarge, size, m)
	}
	return size, nil
}
