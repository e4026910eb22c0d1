package mercure

import (
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
	ev := &ssehub.Event{ID: 9, Topic: TopicFor("a", true), Type: "t", Data: []byte("x\ny"),
		Meta: []byte(`{"mercure":{"topics":["a","b"],"id":"urn:1","retry":5}}`)}
	b := Format.Encode(nil, ev, "9")
	b = append(b, "event: gap\ndata: {}\n\n"...)
	b = Format.Encode(b, &ssehub.Event{ID: 10, Topic: TopicFor("c", false), Data: []byte("z")}, "10")
	var u update
	rest, ok := nextFrame(b, &u)
	if !ok || !u.private || u.id != "urn:1" || strings.Join(u.topics, ",") != "a,b" ||
		string(u.sse) != "event: t\nid: urn:1\nretry: 5\ndata: x\ndata: y\n\n" {
		t.Fatalf("first frame: %v %+v %q", ok, u, u.sse)
	}
	if rest, ok = nextFrame(rest, &u); !ok || u.sse != nil {
		t.Fatalf("gap chunk: %v %+v", ok, u)
	}
	if rest, ok = nextFrame(rest, &u); !ok || u.private || u.id != "#10" || strings.Join(u.topics, ",") != "c" || len(rest) != 0 {
		t.Fatalf("native frame: %v %+v rest %q", ok, u, rest)
	}
}
