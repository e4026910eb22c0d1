package durable

import (
	"fmt"
	"strconv"
	"time"
)

// An offset names a position in a stream: the ssehub event id of the last
// event before it, as 16 decimal digits, then '_' and 16 zeros (the shape
// the protocol's reference server uses, so fixed-width and ordered as
// strings exactly as by id). "0000000000000000_0000000000000000" is the
// start of every stream. Ids are global to the hub, so the offsets of one
// stream are strictly increasing but not dense.
const offsetDigits = 16

// maxOffsetID is the largest id an offset can carry.
const maxOffsetID = 9_999_999_999_999_999

// zeroOffset is the start of every stream.
var zeroOffset = formatOffset(0)

// formatOffset returns the offset after the event with id.
func formatOffset(id uint64) string {
	return fmt.Sprintf("%0*d_%0*d", offsetDigits, id, offsetDigits, 0)
}

// offsetKind tells the sentinels from a position.
type offsetKind int

const (
	offsetStart offsetKind = iota // -1 or absent
	offsetNow                     // now
	offsetAt                      // a position
)

// parseOffset parses an offset token: "-1", "now" or one formatOffset made.
func parseOffset(s string) (offsetKind, uint64, error) {
	switch s {
	case "-1":
		return offsetStart, 0, nil
	case "now":
		return offsetNow, 0, nil
	}
	if len(s) != 2*offsetDigits+1 || s[offsetDigits] != '_' {
		return 0, 0, fmt.Errorf("malformed offset %q: want -1, now or an offset the server returned (16 digits, '_', 16 digits)", trim(s))
	}
	id, err := strconv.ParseUint(s[:offsetDigits], 10, 64)
	if err != nil || !allDigits(s[offsetDigits+1:]) || !allDigits(s[:offsetDigits]) {
		return 0, 0, fmt.Errorf("malformed offset %q: want -1, now or an offset the server returned (16 digits, '_', 16 digits)", trim(s))
	}
	return offsetAt, id, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// trim shortens a client's value for an error message.
func trim(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// Cursors (protocol section 10.1): the number of 20-second intervals since
// 2024-10-09T00:00:00Z; a client's cursor at or past it gets a later one.
var cursorEpoch = time.Date(2024, 10, 9, 0, 0, 0, 0, time.UTC)

const cursorInterval = 20 * time.Second

// responseCursor returns the cursor for a live response to a client that
// sent cursor (or "").
func responseCursor(now time.Time, client string, jitter func() int64) string {
	cur := int64(now.Sub(cursorEpoch) / cursorInterval)
	if c, err := strconv.ParseInt(client, 10, 64); err == nil && c >= cur && c < 1<<53 {
		// 1 to 3600 seconds of jitter, at least one interval.
		j := (jitter()%3600 + 1 + int64(cursorInterval/time.Second) - 1) / int64(cursorInterval/time.Second)
		return strconv.FormatInt(c+max(j, 1), 10)
	}
	return strconv.FormatInt(cur, 10)
}
