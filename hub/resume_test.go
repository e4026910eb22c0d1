package hub

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ssehub/ssehub"
)

func TestParseResume(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Resume
		bad  bool
	}{
		{in: "", want: Resume{}},
		{in: "   ", want: Resume{}},
		{in: "earliest", want: Resume{Set: true, Earliest: true}},
		{in: "0", want: Resume{Set: true}},
		{in: "42", want: Resume{Set: true, After: 42}},
		{in: " 42\t", want: Resume{Set: true, After: 42}},
		{in: "18446744073709551615", want: Resume{Set: true, After: 1<<64 - 1}},
		{in: "42@k3x9", want: Resume{Set: true, After: 42, Epoch: "k3x9"}},
		{in: "7@ABCdef0123456789ABCdef0123456789", want: Resume{Set: true, After: 7, Epoch: "ABCdef0123456789ABCdef0123456789"}},
		{in: "7@ABCdef0123456789ABCdef01234567890", bad: true}, // epoch of 33
		{in: "18446744073709551616", bad: true},
		{in: "-1", bad: true},
		{in: "+1", bad: true},
		{in: "1.5", bad: true},
		{in: "abc", bad: true},
		{in: "Earliest", bad: true},
		{in: "42@", bad: true},
		{in: "@k3x9", bad: true},
		{in: "42@k3-x9", bad: true},
		{in: "42@k3@x9", bad: true},
		{in: "42 @k3x9", bad: true},
	} {
		got, err := ParseResume(c.in)
		switch {
		case c.bad && err == nil:
			t.Errorf("ParseResume(%q) = %+v, want an error", c.in, got)
		case c.bad && !errors.Is(err, ErrBadID):
			t.Errorf("ParseResume(%q): %v does not wrap ErrBadID", c.in, err)
		case !c.bad && err != nil:
			t.Errorf("ParseResume(%q): %v", c.in, err)
		case !c.bad && got != c.want:
			t.Errorf("ParseResume(%q) = %+v, want %+v", c.in, got, c.want)
		}
	}
}

// TestResumeGaps: a resuming subscriber starts right after its id when the
// log still has what follows; otherwise it first gets a gap event saying
// why (retention, an id the log never assigned, an id of another epoch)
// and where the stream continues, then every retained event.
func TestResumeGaps(t *testing.T) {
	for _, kind := range storeKinds {
		for _, mode := range []string{"wait", "notify"} {
			t.Run(kind+"/"+mode, func(t *testing.T) {
				h := startHub(t, kind, ssehub.Retention{MaxEvents: 5}, Options{HotEvents: 3})
				var ids []uint64
				for _, tp := range []string{"a", "b", "a", "b", "a", "b", "a", "b", "a", "b", "a", "b"} {
					ids = append(ids, publish(t, h, tp)...)
				}
				first := ids[7] // the five retained: 8..12
				waitFor(t, "the feed", func() bool { return h.Head() >= ids[11] })
				epoch := h.Epoch()
				gap := func(last, reason string) string {
					return fmt.Sprintf(`{"last_event_id":"%s","earliest":"%d","reason":"%s"}`, last, first, reason)
				}
				for _, c := range []struct {
					from   string
					filter string
					gap    string
					want   []uint64
				}{
					{from: "2", gap: gap("2", "retention"), want: ids[7:]},
					{from: "2", filter: "a", gap: gap("2", "retention"), want: []uint64{ids[8], ids[10]}},
					{from: fmt.Sprint(first - 1), want: ids[7:]},
					{from: fmt.Sprint(first), want: ids[8:]},
					{from: fmt.Sprint(ids[11]), want: nil},
					{from: "100", gap: gap("100", "unknown_id"), want: ids[7:]},
					{from: fmt.Sprintf("100@%s", epoch), gap: gap("100@"+epoch, "unknown_id"), want: ids[7:]},
					{from: "10@other", gap: gap("10@other", "epoch"), want: ids[7:]},
					{from: "1@other", filter: "b", gap: gap("1@other", "epoch"), want: []uint64{ids[7], ids[9], ids[11]}},
					{from: fmt.Sprintf("9@%s", epoch), want: ids[9:]},
					{from: fmt.Sprintf("3@%s", epoch), gap: gap("3@"+epoch, "retention"), want: ids[7:]},
					{from: "earliest", want: ids[7:]},
				} {
					from, err := ParseResume(c.from)
					if err != nil {
						t.Fatal(err)
					}
					f := ssehub.All()
					if c.filter != "" {
						f = ssehub.MustFilter(c.filter)
					}
					r := mustSubscribe(t, h, mode, SubscribeOptions{Filter: f, From: from})
					what := fmt.Sprintf("from %q filter %q", c.from, c.filter)
					// Read until the subscriber has caught up with the head
					// and joined the live feed: then nothing more is due.
					head := ids[len(ids)-1]
					if err := r.until(func() bool { return r.sub.attached && r.sub.pos >= head }); err != nil {
						t.Fatalf("%s: %v", what, err)
					}
					expectIDs(t, what, r.messages(), c.want)
					switch {
					case c.gap == "" && len(r.frames) > 0 && r.frames[0].typ == "gap":
						t.Errorf("%s: an unexpected gap event %v", what, r.frames[0])
					case c.gap != "" && (len(r.frames) == 0 || r.frames[0].typ != "gap" || r.frames[0].data != c.gap || r.frames[0].id != ""):
						t.Errorf("%s: events %v, want the gap %s first", what, r.frames, c.gap)
					}
					if n := len(r.frames) - len(r.messages()); n > 1 {
						t.Errorf("%s: %d gap events", what, n)
					}
					r.sub.Close()
				}
			})
		}
	}
}
