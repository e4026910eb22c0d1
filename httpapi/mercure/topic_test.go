package mercure

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ssehub/ssehub"
)

func TestTopicMapping(t *testing.T) {
	seen := map[string]string{}
	for _, iri := range []string{
		"https://example.com/books/1", "https://example.com/books/1/", "https://example.com/books_1",
		"https://example.com/books_5F1", "a.b", "a_2Eb", "A", "a", "-", "é", "日本", "x y", "mercure.x",
		strings.Repeat("a", ssehub.MaxTopicLen), strings.Repeat("/", 200), strings.Repeat("/", 201),
	} {
		for _, private := range []bool{false, true} {
			topic := TopicFor(iri, private)
			if err := ssehub.ValidateTopic(topic); err != nil {
				t.Fatalf("TopicFor(%q) = %q: %v", iri, topic, err)
			}
			key := iri
			if private {
				key += " (private)"
			}
			if other, dup := seen[topic]; dup {
				t.Fatalf("%q and %q both map to %q", other, key, topic)
			}
			seen[topic] = key
			back, priv, ok := IRIOf(topic)
			hashed := strings.Contains(topic, "."+hashedMark)
			if priv != private || ok == hashed || (ok && back != iri) {
				t.Errorf("IRIOf(%q) = %q, %v, %v; want %q, %v (hashed %v)", topic, back, priv, ok, iri, private, hashed)
			}
		}
	}
	if got := TopicFor("https://example.com/books/1", false); got != "mercure.https_3A_2F_2Fexample_2Ecom_2Fbooks_2F1" {
		t.Errorf("spelled-out form %q", got)
	}
	for _, topic := range []string{"orders.created", "mercure.", "mercure.a_zz", "mercure.a_2e", "mercure.a_0A"} {
		if _, _, ok := IRIOf(topic); ok {
			t.Errorf("IRIOf(%q) decoded", topic)
		}
	}
}

func FuzzTopicMapping(f *testing.F) {
	f.Add("https://example.com/x", true)
	f.Fuzz(func(t *testing.T, iri string, private bool) {
		topic := TopicFor(iri, private)
		if err := ssehub.ValidateTopic(topic); err != nil {
			t.Fatalf("TopicFor(%q) = %q: %v", iri, topic, err)
		}
		if back, _, ok := IRIOf(topic); ok && back != iri {
			t.Fatalf("IRIOf(TopicFor(%q)) = %q", iri, back)
		}
	})
}

func TestFrameRoundTrip(t *testing.T) {
	release, err := useSealKey(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	m := meta{Topics: []string{"a", "b"}, ID: "urn:1", Retry: 5}
	seal(&m, TopicFor("a", true), "t")
	sealedMeta, _ := json.Marshal(metaDoc{Mercure: &m})
	ev := &ssehub.Event{ID: 9, Topic: TopicFor("a", true), Type: "t", Data: []byte("x\ny"), Meta: sealedMeta}
	b := Format.Encode(nil, ev, "9")
	// Unsealed (or sealed for another topic), the meta is ignored.
	forged := *ev
	forged.Meta = []byte(`{"mercure":{"topics":["a","b"],"id":"urn:1"}}`)
	moved := *ev
	moved.Topic = TopicFor("c", true)
	for _, e := range []*ssehub.Event{&forged, &moved} {
		var u update
		if _, ok := nextFrame(Format.Encode(nil, e, "9"), &u); !ok || string(u.id) != "#9" || len(u.topics) != 1 {
			t.Errorf("unsealed meta was used: %+v", u)
		}
	}
	// An unsealed event looking like the hub's own is never delivered.
	for _, e := range []*ssehub.Event{{Topic: TopicFor("x", true), Type: "mercure"}, {Topic: TopicFor("/.well-known/mercure/subscriptions/a", true)}} {
		var u update
		if _, ok := nextFrame(Format.Encode(nil, e, "1"), &u); !ok || u.sse != nil {
			t.Errorf("forged hub event %q is deliverable", e.Topic)
		}
	}
	b = append(b, "event: gap\ndata: {}\n\n"...)
	b = Format.Encode(b, &ssehub.Event{ID: 10, Topic: TopicFor("c", false), Data: []byte("z")}, "10")
	var u update
	rest, ok := nextFrame(b, &u)
	if !ok || !u.private || string(u.id) != "urn:1" || strings.Join(u.topics, ",") != "a,b" ||
		string(u.sse) != "event: t\nid: urn:1\nretry: 5\ndata: x\ndata: y\n\n" {
		t.Fatalf("first frame: %v %+v %q", ok, u, u.sse)
	}
	if rest, ok = nextFrame(rest, &u); !ok || u.sse != nil {
		t.Fatalf("gap chunk: %v %+v", ok, u)
	}
	if rest, ok = nextFrame(rest, &u); !ok || u.private || string(u.id) != "#10" || strings.Join(u.topics, ",") != "c" || len(rest) != 0 {
		t.Fatalf("native frame: %v %+v rest %q", ok, u, rest)
	}
	// An event on a topic outside the Mercure prefixes is a native frame:
	// private, its one topic the ssehub topic, its meta ignored; of type
	// mercure, not deliverable.
	u = update{}
	nb := Format.Encode(nil, &ssehub.Event{ID: 11, Topic: "orders.created", Type: "created", Data: []byte("n"), Meta: sealedMeta}, "11@e")
	if _, ok := nextFrame(nb, &u); !ok || !u.native || !u.private || string(u.id) != "#11@e" || strings.Join(u.topics, ",") != "orders.created" ||
		string(u.sse) != "event: created\nid: #11@e\ndata: n\n\n" {
		t.Fatalf("native frame: %v %+v %q", ok, u, u.sse)
	}
	if _, ok := nextFrame(Format.Encode(nil, &ssehub.Event{ID: 12, Topic: "orders.created", Type: "mercure"}, "12"), &u); !ok || u.sse != nil {
		t.Fatalf("a native event of type mercure is deliverable: %+v", u)
	}
}
