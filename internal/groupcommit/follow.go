package groupcommit

import (
	"context"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/internal/record"
)

// FollowState is what a store's Follow looks at on each turn, read under
// the store's lock: its head and oldest retained id, the channel it closes
// at its next commit, whether it is closed, and the events after the
// follower's position that it still holds in memory (Recent: InRecent
// false when the follower is behind them).
type FollowState struct {
	Head, First uint64
	Notify      <-chan struct{}
	Closed      bool
	InRecent    bool
}

// Recent appends to batch the events of recent (the store's most recently
// committed, in id order) after the id after, and reports whether they
// reach back that far.
func Recent(recent []*ssehub.Event, after uint64, batch []*ssehub.Event) ([]*ssehub.Event, bool) {
	if len(recent) == 0 || recent[0].ID > after+1 {
		return batch, false
	}
	i := int(min(after+1-recent[0].ID, uint64(len(recent))))
	return append(batch, recent[i:]...), true
}

// Follow is an embedded store's ssehub.Log Follow: it passes fn every
// event after after, from the recently committed ones in memory (state)
// or from the store (scan, up to the head) when the follower is further
// behind, and waits for the next commit at the head. Every event it passes
// is the receiver's: those in memory were copied at commit, those scanned
// are copied here. A follower behind retention's First continues at First.
// It returns ssehub.ErrClosed once the store closes (or quit is closed).
func Follow(ctx context.Context, after uint64, quit <-chan struct{},
	state func(after uint64, batch []*ssehub.Event) (FollowState, []*ssehub.Event),
	scan func(ctx context.Context, after, upto uint64, fn func(*ssehub.Event) error) error,
	fn func(*ssehub.Event) error) error {
	var batch []*ssehub.Event
	for {
		var st FollowState
		st, batch = state(after, batch[:0])
		if st.Closed {
			return ssehub.ErrClosed
		}
		switch {
		case after >= st.Head:
			select {
			case <-st.Notify:
			case <-ctx.Done():
				return ctx.Err()
			case <-quit:
				return ssehub.ErrClosed
			}
		case st.InRecent:
			for _, ev := range batch {
				if err := fn(ev); err != nil {
					return err
				}
				after = ev.ID
			}
		default:
			if after+1 < st.First {
				after = st.First - 1 // retention passed a slow follower
			}
			err := scan(ctx, after, st.Head, func(ev *ssehub.Event) error {
				cp := *ev
				cp.Data, cp.Meta = record.Owned(ev.Data), record.Owned(ev.Meta)
				after = ev.ID
				return fn(&cp)
			})
			if err != nil {
				return err
			}
			if after < st.Head {
				after = st.Head // nothing left below the head: retention removed it
			}
		}
	}
}
