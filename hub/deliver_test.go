package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/format"
)

// TestLiveDelivery: the index reaches subscribers by exact topic, prefix
// and "*", and by filters of several patterns; each gets every event it
// matches once, in id order, and nothing else.
func TestLiveDelivery(t *testing.T) {
	for _, kind := range storeKinds {
		for _, mode := range []string{"wait", "notify"} {
			t.Run(kind+"/"+mode, func(t *testing.T) {
				h := startHub(t, kind, ssehub.Retention{}, Options{})
				filters := [][]string{
					{"orders.created"},
					{"orders.*"},
					{"orders.eu.*"},
					{"*"},
					{"payments", "orders.eu.*", "audit.log"},
					// Overlapping patterns: normalized to orders.*, so
					// orders.eu.x must come once, not twice.
					{"orders.*", "orders.eu.*", "orders.created"},
					{"nomatch"},
					{"payments.*"}, // not "payments" itself
				}
				readers := make([]*reader, len(filters))
				for i, pats := range filters {
					readers[i] = mustSubscribe(t, h, mode, SubscribeOptions{Filter: ssehub.MustFilter(pats...)})
				}
				topics := []string{"orders.created", "orders.eu.x", "payments", "orders", "audit.log",
					"orders.eu.x.y", "audit", "payments.card", "orders.created", "ordersx.a"}
				var ids []uint64
				for _, tp := range topics { // one append each, so the feed sees them one by one
					ids = append(ids, publish(t, h, tp)...)
				}
				for i, pats := range filters {
					f := ssehub.MustFilter(pats...)
					var want []uint64
					for j, tp := range topics {
						if f.Match(tp) {
							want = append(want, ids[j])
						}
					}
					got := readers[i].readN(len(want))
					expectIDs(t, fmt.Sprint(pats), got, want)
					for k, fr := range got {
						if tp := topicOfData(fr.data); !f.Match(tp) {
							t.Errorf("%v: event %d is of topic %q", pats, k, tp)
						}
					}
				}
				// Nothing more arrives: a marker event every reader takes
				// comes right after what it already had.
				marker := publish(t, h, "audit.log")[0]
				for i, pats := range filters {
					f := ssehub.MustFilter(pats...)
					if !f.Match("audit.log") {
						continue
					}
					before := len(readers[i].messages())
					got := readers[i].readN(before + 1)
					if idOf(t, got[before]) != marker || len(got) != before+1 {
						t.Errorf("%v: after the expected events came %v", pats, got[before:])
					}
				}
			})
		}
	}
}

// topicOfData returns the topic the publish helper wrote into an event's data.
func topicOfData(data string) string {
	tp, _, _ := strings.Cut(data, "#")
	return tp
}

// TestIntersectionFilter: a subscriber whose filter is an intersection (a
// stream's topics narrowed by a client's or a token's) gets what both sides
// match, and only that.
func TestIntersectionFilter(t *testing.T) {
	h := startHub(t, "memory", ssehub.Retention{}, Options{})
	stream := ssehub.MustFilter("orders.*", "payments")
	client := ssehub.MustFilter("orders.eu.*", "payments", "audit.*")
	f := stream.Intersect(client)
	if f.String() != "orders.eu.*,payments" {
		t.Fatalf("intersection %q", f.String())
	}
	r := mustSubscribe(t, h, "wait", SubscribeOptions{Filter: f})
	topics := []string{"orders.us.a", "orders.eu.a", "payments", "audit.x", "orders.eu.b.c", "payments.x"}
	ids := publish(t, h, topics...)
	expectIDs(t, "intersection", r.readN(3), []uint64{ids[1], ids[2], ids[4]})
	tail := publish(t, h, "orders.us.b", "orders.eu.z")
	expectIDs(t, "intersection, later", r.readN(4)[3:], tail[1:])
}

// TestSysNeverDelivered: control events go through the log and the live
// feed, but no subscriber, not even one of "*", receives one, live or in a
// replay; and no client may publish one.
func TestSysNeverDelivered(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			h := startHub(t, kind, ssehub.Retention{}, Options{})
			live := mustSubscribe(t, h, "wait", SubscribeOptions{Filter: ssehub.All()})
			a := publish(t, h, "a")[0]
			if err := h.RevokeToken(context.Background(), "tok"); err != nil {
				t.Fatal(err)
			}
			if err := h.DeregisterTopic(context.Background(), "gone.topic"); err != nil {
				t.Fatal(err)
			}
			b := publish(t, h, "b")[0]
			if b != a+3 {
				t.Fatalf("the control events did not take ids between %d and %d", a, b)
			}
			expectIDs(t, "live *", live.readN(2), []uint64{a, b})
			waitFor(t, "the feed to pass b", func() bool { return h.Head() >= b })
			if got := h.Stats().Dispatched.Load(); got != 4 {
				t.Errorf("Dispatched %d, want 4 (control events are dispatched, not delivered)", got)
			}
			replay := mustSubscribe(t, h, "wait", SubscribeOptions{Filter: ssehub.All(), From: Resume{Set: true, Earliest: true}})
			expectIDs(t, "replay *", replay.readN(2), []uint64{a, b})
			for _, tp := range []string{ssehub.SysRevoke, ssehub.SysDeregister, "$sys.other"} {
				if _, err := h.Publish(context.Background(), []*ssehub.Event{{Topic: tp, Data: []byte("x")}}); err == nil {
					t.Errorf("a client published to %q", tp)
				}
			}
		})
	}
}

// TestFormatsAndEpochIDs: events are rendered in the subscriber's format,
// and EpochIDs sends "id@epoch" ids that resume without a gap.
func TestFormatsAndEpochIDs(t *testing.T) {
	h := startHub(t, "memory", ssehub.Retention{}, Options{})
	raw := mustSubscribe(t, h, "wait", SubscribeOptions{Filter: ssehub.All(), Format: format.Raw})
	rawEpoch := mustSubscribe(t, h, "notify", SubscribeOptions{Filter: ssehub.All(), Format: format.Raw, EpochIDs: true})
	env := mustSubscribe(t, h, "wait", SubscribeOptions{Filter: ssehub.All(), Format: format.Envelope, EpochIDs: true})
	res, err := h.Publish(context.Background(), []*ssehub.Event{
		{Topic: "a", Type: "created", Data: []byte("one")},
		{Topic: "b", Data: []byte("two")},
	})
	if err != nil {
		t.Fatal(err)
	}
	id1, id2 := res[0].ID, res[1].ID
	epoch := h.Epoch()
	if epoch == "" {
		t.Fatal("no epoch")
	}
	got := raw.readN(2)
	if got[0].typ != "created" || got[0].id != fmt.Sprint(id1) || got[0].data != "one" || got[1].typ != "message" || got[1].data != "two" {
		t.Errorf("raw: %v", got)
	}
	got = rawEpoch.readN(2)
	if got[0].id != fmt.Sprintf("%d@%s", id1, epoch) || got[1].id != fmt.Sprintf("%d@%s", id2, epoch) {
		t.Errorf("epoch ids: %v", got)
	}
	got = env.readN(2)
	var e struct {
		ID        uint64 `json:"id"`
		EventType string `json:"event_type"`
		Data      string `json:"data"`
	}
	if err := json.Unmarshal([]byte(got[0].data), &e); err != nil || got[0].typ != "message" || e.ID != id1 || e.EventType != "a" || e.Data != "one" {
		t.Errorf("envelope: %v %+v %v", got[0], e, err)
	}
	if got[1].id != fmt.Sprintf("%d@%s", id2, epoch) {
		t.Errorf("envelope epoch id %q", got[1].id)
	}

	// The epoch id a client got resumes right after it, with no gap.
	from, err := ParseResume(got[0].id)
	if err != nil {
		t.Fatal(err)
	}
	resumed := mustSubscribe(t, h, "wait", SubscribeOptions{Filter: ssehub.All(), From: from, EpochIDs: true})
	out := resumed.readN(1)
	if len(resumed.frames) != 1 || out[0].id != fmt.Sprintf("%d@%s", id2, epoch) {
		t.Errorf("resuming from %q: %v", got[0].id, resumed.frames)
	}
}

// TestUnregisteredFormat: a format that was never registered is refused.
func TestUnregisteredFormat(t *testing.T) {
	h := startHub(t, "memory", ssehub.Retention{}, Options{})
	if _, err := h.Subscribe(SubscribeOptions{Filter: ssehub.All(), Format: unregistered{}}); err == nil {
		t.Fatal("an unregistered format was accepted")
	}
	if h.Stats().Subscribers.Load() != 0 {
		t.Fatal("a refused subscription is counted")
	}
}

type unregistered struct{}

func (unregistered) Name() string                                        { return "test-unregistered" }
func (unregistered) Encode(dst []byte, _ *ssehub.Event, _ string) []byte { return dst }

// TestIndex: the index reaches each subscriber whose filter matches a topic
// once, through a pattern with one subscriber or many, after removals, and
// when fn removes the subscriber it is given (an overflow does).
func TestIndex(t *testing.T) {
	x := newIndex()
	mk := func(pats ...string) *Subscriber { return &Subscriber{filter: ssehub.MustFilter(pats...)} }
	a1, a2, a3 := mk("a"), mk("a"), mk("a", "b.*")
	p1, p2 := mk("b.*"), mk("b.c.*")
	all := mk("*")
	subs := []*Subscriber{a1, a2, a3, p1, p2, all}
	names := map[*Subscriber]string{a1: "a1", a2: "a2", a3: "a3", p1: "p1", p2: "p2", all: "all"}
	reached := func(topic string) map[string]int {
		got := map[string]int{}
		x.each(topic, func(s *Subscriber) { got[names[s]]++ })
		return got
	}
	check := func(topic, want string) {
		t.Helper()
		got := reached(topic)
		if fmt.Sprint(got) != want {
			t.Errorf("%s reaches %v, want %s", topic, got, want)
		}
	}
	x.add(a1)
	check("a", "map[a1:1]")
	for _, s := range subs[1:] {
		x.add(s)
	}
	x.add(a1) // again: changes nothing
	check("a", "map[a1:1 a2:1 a3:1 all:1]")
	check("b.c.d", "map[a3:1 all:1 p1:1 p2:1]")
	check("b", "map[all:1]")
	check("$sys.revoke", "map[]")
	x.remove(a1)
	x.remove(a2)
	check("a", "map[a3:1 all:1]")
	x.remove(a3)
	x.remove(a3)
	check("a", "map[all:1]")
	if _, ok := x.exact["a"]; ok {
		t.Error("an empty set is kept")
	}
	x.add(a2)
	check("a", "map[a2:1 all:1]")
	// Removing during each, as the dispatcher does on an overflow.
	x.add(a1)
	x.add(a3)
	calls := map[string]int{}
	x.each("a", func(s *Subscriber) {
		calls[names[s]]++
		x.remove(s)
	})
	if fmt.Sprint(calls) != "map[a1:1 a2:1 a3:1 all:1]" {
		t.Errorf("removing during each: %v", calls)
	}
	check("a", "map[]")
	check("b.x", "map[p1:1]")
	got := map[string]int{}
	for _, s := range x.drain() {
		got[names[s]]++
	}
	if fmt.Sprint(got) != "map[p1:1 p2:1]" || len(x.exact)+len(x.prefix)+len(x.all) != 0 {
		t.Errorf("drain returned %v and left %d %d %d", got, len(x.exact), len(x.prefix), len(x.all))
	}
}
