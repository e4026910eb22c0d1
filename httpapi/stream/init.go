package stream

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/envelope"
	"github.com/ssehub/ssehub/sse"
)

// An init: last stream starts, after its hello and before any replayed or
// live event, with one event per matching topic that carries the topic's
// current state, its latest event, Hantera style:
//
//	event: init
//	data: <the event's data, or its envelope>
//
// "Latest" is counted at the position the stream continues from, so that
// init and the stream after it fit exactly, under concurrent publishing
// too: a new connection's subscription starts after the log's head when
// it connected (every publish acknowledged before it, dispatched or not),
// and each init event is the topic's newest event up to that id; a resuming connection's init events are the topics'
// state at its Last-Event-ID, which the replay then brings up to date.
// Either way a client that applies the init events and then every event
// in order ends with the current state, having seen nothing twice and
// missed nothing. Init events carry no id field, so they do not move the
// client's Last-Event-ID, and a reconnection gets them again. A
// connection that resumes from before the oldest retained event (or with
// an id of another log) gets no init events: its replay holds every
// retained event.
//
// Topics are taken in name order, at most Endpoint.InitMaxTopics of them
// (a "*" match on a hub with many topics is cut there; docs/api.md), and
// their init events are sent in id order.

var errInitStop = errors.New("init: past the position")

// initFrames returns the init events of req's stream, or nil when it has
// none. A read that fails is logged and leaves the stream without them.
func (f *Feature) initFrames(ctx context.Context, req *request) []byte {
	if !req.init {
		return nil
	}
	h := f.s.Hub()
	pos, err := h.Bounds(ctx)
	if err != nil {
		f.s.Logger().Warn("init events", "err", err)
		return nil
	}
	from := req.opts.From
	if from.Earliest || (from.Epoch != "" && from.Epoch != h.Epoch()) || from.After > pos.Head || from.After+1 < pos.First {
		return nil
	}
	at := from.After
	e := req.endpoint
	type state struct {
		id    uint64
		frame []byte
	}
	var states []state
	err = f.initTopics(ctx, req.opts.Filter, e.InitMaxTopics, func(info ssehub.TopicInfo) error {
		var ev *ssehub.Event
		if info.LastID <= at {
			last, err := h.Last(ctx, info.Topic)
			if errors.Is(err, ssehub.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			if last.ID <= at {
				ev = last
			}
		}
		if ev == nil {
			// Newer events came after the position: find the latest one
			// up to it, in windows growing back from it.
			var frame []byte
			var id uint64
			exact := ssehub.MustFilter(info.Topic)
			for w := uint64(256); ; w *= 8 {
				lo := uint64(0)
				if at > w {
					lo = at - w
				}
				err := h.History(ctx, lo, exact, func(ev *ssehub.Event) error {
					if ev.ID > at {
						return errInitStop
					}
					id, frame = ev.ID, initFrame(frame[:0], e, ev)
					return nil
				})
				if err != nil && !errors.Is(err, errInitStop) {
					return err
				}
				if frame != nil || lo == 0 || lo < pos.First {
					break
				}
			}
			if frame != nil {
				states = append(states, state{id, frame})
			}
			return nil
		}
		states = append(states, state{ev.ID, initFrame(nil, e, ev)})
		return nil
	})
	if err != nil {
		f.s.Logger().Warn("init events", "err", err)
		return nil
	}
	slices.SortFunc(states, func(a, b state) int {
		switch {
		case a.id < b.id:
			return -1
		case a.id > b.id:
			return 1
		}
		return 0
	})
	var out []byte
	for _, s := range states {
		out = append(out, s.frame...)
	}
	return out
}

// initFrame appends ev's init event: its data in a raw stream, its
// envelope (in the stream's style) otherwise.
func initFrame(dst []byte, e *Endpoint, ev *ssehub.Event) []byte {
	var data []byte
	switch e.Format.Name() {
	case "raw":
		data = ev.Data
	case "inboxclaw":
		data = envelope.AppendStyle(nil, ev, envelope.Inboxclaw)
	default:
		data = envelope.Append(nil, ev)
	}
	out, _ := sse.AppendEvent(dst, &sse.Event{Type: "init", Data: data})
	return out
}

// initTopics calls fn for the topics f matches that have retained events
// and are not deregistered, in name order, at most limit of them.
func (f *Feature) initTopics(ctx context.Context, filter ssehub.Filter, limit int, fn func(ssehub.TopicInfo) error) error {
	h := f.s.Hub()
	n := 0
	visit := func(info ssehub.TopicInfo) (bool, error) {
		if n >= limit {
			return false, nil
		}
		if !filter.Match(info.Topic) || h.Gone(info.Topic) {
			return true, nil
		}
		n++
		return true, fn(info)
	}
	var exact []string
	var prefixes []string
	for _, p := range filter.Patterns() {
		switch {
		case p.String() == "*":
			prefixes = append(prefixes, "")
		case p.Exact():
			exact = append(exact, p.String())
		default:
			prefixes = append(prefixes, strings.TrimSuffix(p.String(), "*"))
		}
	}
	// Exact topics and prefixes are disjoint in a normalized filter; visit
	// them in name order together.
	type source struct {
		name   string
		prefix bool
	}
	var srcs []source
	for _, t := range exact {
		srcs = append(srcs, source{t, false})
	}
	for _, p := range prefixes {
		srcs = append(srcs, source{p, true})
	}
	slices.SortFunc(srcs, func(a, b source) int { return strings.Compare(a.name, b.name) })
	for _, s := range srcs {
		if !s.prefix {
			info, err := h.Topic(ctx, s.name)
			if errors.Is(err, ssehub.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if more, err := visit(info); err != nil || !more {
				return err
			}
			continue
		}
		after := s.name
		for {
			page, err := h.Topics(ctx, after, min(limit-n, 1000)+1)
			if err != nil {
				return err
			}
			for _, info := range page {
				if !strings.HasPrefix(info.Topic, s.name) {
					goto next
				}
				if more, err := visit(info); err != nil || !more {
					return err
				}
				after = info.Topic
			}
			if len(page) == 0 || n >= limit {
				break
			}
		}
	next:
	}
	return nil
}
