package durable

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/ssehub/ssehub"
)

// subOffsetPrefix resolves a Stream-Fork-Sub-Offset of n (> 0) past the
// fork offset. In a JSON stream it is n messages of the append that
// follows: the fork inherits up to the n-th of them (fm.Offset moves
// there, nothing is copied). In a byte stream it is n bytes of the append
// that follows: those bytes are copied into the fork as its first append,
// returned here (their topic is left for the caller to set). An n past the
// end of that append is an error.
func (f *Feature) subOffsetPrefix(r *http.Request, src *state, srcTopic string, fm *forkMeta, n int64) ([]*ssehub.Event, error) {
	if fm.OffsetAsked == "" {
		return nil, errors.New("a sub-offset needs Stream-Fork-Offset")
	}
	segs := src.segments(srcTopic)
	var first *ssehub.Event
	var ids []uint64
	batch := 1
	err := f.scan(r.Context(), segs, fm.Offset, src.tail, func(ev *ssehub.Event) error {
		if first == nil {
			first = &ssehub.Event{ID: ev.ID, Data: bytes.Clone(ev.Data)}
			var bm batchMeta
			if len(ev.Meta) > 0 && json.Unmarshal(ev.Meta, &bm) == nil && bm.Batch > 1 {
				batch = bm.Batch
			}
		}
		ids = append(ids, ev.ID)
		if !isJSON(src.meta.ContentType) || len(ids) >= batch || int64(len(ids)) >= n {
			return errStop
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if first == nil {
		return nil, errors.New("there is no data past Stream-Fork-Offset to take a sub-offset of")
	}
	if isJSON(src.meta.ContentType) {
		if n > int64(batch) || n > int64(len(ids)) {
			return nil, fmt.Errorf("%d is past the %d messages of the append at Stream-Fork-Offset", n, batch)
		}
		fm.Offset = ids[n-1]
		fm.Segments = mergeSegments(segs, fm.Offset)
		return nil, nil
	}
	if n > int64(len(first.Data)) {
		return nil, fmt.Errorf("%d is past the %d bytes of the append at Stream-Fork-Offset", n, len(first.Data))
	}
	return []*ssehub.Event{{Data: first.Data[:n]}}, nil
}

// mergeSegments returns segs bounded at upto, empty ones left out.
func mergeSegments(segs []segment, upto uint64) []segment {
	var out []segment
	for _, g := range segs {
		if g.Upto == 0 || g.Upto > upto {
			g.Upto = upto
		}
		if g.Upto > g.After {
			out = append(out, g)
		}
	}
	return out
}
