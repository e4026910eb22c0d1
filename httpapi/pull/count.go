package pull

import (
	"context"
	"errors"

	"github.com/ssehub/ssehub"
)

// count remembers how many events of the log one filter matches in (a, b],
// so that remaining_events costs what changed since the last extract
// (the batch just taken, the events published since), not a read of the
// whole backlog. It holds while retention has removed nothing after a.
type count struct {
	a, b uint64
	n    int64
}

// maxCounts bounds the filters an endpoint remembers counts for.
const maxCounts = 64

var errPastRange = errors.New("past the range")

// remaining returns remaining_events after an extract with filter f whose
// read went up to last: the events f matches after the batch that no live
// batch holds and nobody confirmed. e.mu is held; e.st is the new state.
func (e *endpoint) remaining(ctx context.Context, f ssehub.Filter, last uint64, pos ssehub.Position, nowMS int64) (int64, error) {
	m := max(last, e.st.Cursor)
	n, err := e.logAfter(ctx, f, m, pos)
	if err != nil {
		return 0, err
	}
	// Above m an event of the log is out unless it is new or in an expired
	// batch; between last and m (all handed out already) it is there again
	// only in an expired batch.
	for _, b := range e.st.Batches {
		live := b.Expires > nowMS
		for _, r := range b.Events {
			switch {
			case r.ID > m && live && f.Match(r.Topic):
				n--
			case r.ID > last && r.ID <= m && !live && f.Match(r.Topic):
				n++
			}
		}
	}
	for _, r := range e.st.Done {
		if r.ID > m && f.Match(r.Topic) {
			n--
		}
	}
	return max(n, 0), nil
}

// logAfter returns how many retained events of the log f matches after m,
// up to pos.Head, from the remembered count when it still holds.
func (e *endpoint) logAfter(ctx context.Context, f ssehub.Filter, m uint64, pos ssehub.Position) (int64, error) {
	if pos.First > 0 && m+1 < pos.First {
		m = pos.First - 1
	}
	key := f.String()
	c := e.counts[key]
	var n int64
	var err error
	rng := func(x, y uint64) int64 {
		if err != nil || y <= x {
			return 0
		}
		var k int64
		err = e.f.s.Hub().History(ctx, x, f, func(ev *ssehub.Event) error {
			if ev.ID > y {
				return errPastRange
			}
			k++
			return nil
		})
		if errors.Is(err, errPastRange) {
			err = nil
		}
		return k
	}
	head := pos.Head
	switch {
	case c == nil || c.a+1 < pos.First || m >= c.b || head < c.b:
		n = rng(m, head)
	case m >= c.a:
		n = c.n - rng(c.a, m) + rng(c.b, head)
	default:
		n = c.n + rng(m, c.a) + rng(c.b, head)
	}
	if err != nil {
		delete(e.counts, key)
		return 0, err
	}
	if c == nil && len(e.counts) >= maxCounts {
		for k := range e.counts {
			delete(e.counts, k)
			break
		}
	}
	e.counts[key] = &count{a: m, b: max(head, m), n: n}
	return n, nil
}
