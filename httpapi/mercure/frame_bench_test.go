package mercure

import (
	"fmt"
	"testing"

	"github.com/ssehub/ssehub"
)

// BenchmarkDeliverFilter is what one Mercure stream spends on one update:
// splitting the frame off the hub's bytes and testing its matchers (and
// for a private update, a grant). Compare the matcher types.
func BenchmarkDeliverFilter(b *testing.B) {
	release, err := useSealKey(make([]byte, 32))
	if err != nil {
		b.Fatal(err)
	}
	defer release()
	const base = "https://hub.example/.well-known/mercure"
	topic := "https://example.com/books/12345"
	frame := Format.Encode(nil, &ssehub.Event{ID: 1, Topic: TopicFor(topic, false), Data: make([]byte, 200)}, "1")
	for _, c := range []struct{ typ, pattern string }{
		{typeExact, topic}, {typeExact, "*"}, {typeURLPattern, "https://example.com/books/:id"},
		{typeURITemplate, "https://example.com/books/{id}"},
	} {
		m, err := newMatcher(c.typ, c.pattern, base)
		if err != nil {
			b.Fatal(err)
		}
		f := &Feature{}
		sels := []selector{{typ: c.typ, pattern: c.pattern, m: m}}
		cred := &credential{}
		if m.url != nil {
			b.Run(fmt.Sprintf("%s=%s/uncached", c.typ, c.pattern), func(b *testing.B) {
				var u update
				for b.Loop() {
					if _, ok := nextFrame(frame, &u); !ok || !m.url.Test(u.topics[0], base) {
						b.Fatal("not delivered")
					}
				}
			})
		}
		b.Run(fmt.Sprintf("%s=%s", c.typ, c.pattern), func(b *testing.B) {
			var u update
			for b.Loop() {
				if _, ok := nextFrame(frame, &u); !ok || !f.delivers(&u, sels, cred, base) {
					b.Fatal("not delivered")
				}
			}
		})
	}
}

// BenchmarkDeliverNative is BenchmarkDeliverFilter for a native event
// (orders.created under native_topics orders.*), to a JWT granted its IRI
// exactly: the frame, the IRI mapping (cached per stream), the selector
// and the grant. Each frame has a new id, as on a real stream.
func BenchmarkDeliverNative(b *testing.B) {
	const base = "https://hub.example/.well-known/mercure"
	const prefix = "https://example.com/topics/"
	f := &Feature{native: ssehub.MustFilter("orders.*")}
	f.opts.NativeIRIPrefix = prefix
	m, err := newMatcher(typeExact, prefix+"orders.created", base)
	if err != nil {
		b.Fatal(err)
	}
	sels := []selector{{typ: typeExact, pattern: m.pattern, m: m}}
	cred := &credential{jwt: &claims{grants: []grant{{subscribe: true, topics: matchers{m}}}}}
	var frames [][]byte
	for i := range 64 {
		frames = append(frames, Format.Encode(nil, &ssehub.Event{Topic: "orders.created", Data: make([]byte, 200)}, fmt.Sprint(1000+i, "@e")))
	}
	var u update
	i := 0
	for b.Loop() {
		if _, ok := nextFrame(frames[i%len(frames)], &u); !ok || !f.delivers(&u, sels, cred, base) {
			b.Fatal("not delivered")
		}
		i++
	}
}

// BenchmarkEncode is the hub's once-per-update cost of the mercure format.
func BenchmarkEncode(b *testing.B) {
	release, err := useSealKey(make([]byte, 32))
	if err != nil {
		b.Fatal(err)
	}
	defer release()
	topic := TopicFor("https://example.com/books/1", false)
	m := meta{Topics: []string{"https://example.com/books/1", "https://example.com/users/1/books/1"}, ID: "urn:uuid:1"}
	seal(&m, topic, "")
	ev := &ssehub.Event{ID: 1, Topic: topic, Data: make([]byte, 200)}
	ev.Meta = []byte(fmt.Sprintf(`{"mercure":{"topics":[%q,%q],"id":%q,"sig":%q}}`, m.Topics[0], m.Topics[1], m.ID, m.Sig))
	var dst []byte
	for b.Loop() {
		dst = Format.Encode(dst[:0], ev, "1")
	}
}
