package durable_test

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/httpapi/durable"
	"github.com/ssehub/ssehub/internal/hubtest"
	"github.com/ssehub/ssehub/sse"
)

func TestTopicFor(t *testing.T) {
	for name, want := range map[string]string{
		"chat/room-1":  "ds.chat.room-1",
		"a.b":          "ds.a_2Eb",
		"a_b":          "ds.a_5Fb",
		"a//b/":        "ds.a._.b._",
		"/x":           "ds._.x",
		"ünï code 😀":   "ds._C3_BCn_C3_AF_20code_20_F0_9F_98_80",
		"UPPER-lower9": "ds.UPPER-lower9",
	} {
		got, err := durable.TopicFor(name)
		if err != nil || got != want {
			t.Errorf("TopicFor(%q) = %q, %v; want %q", name, got, err, want)
			continue
		}
		if err := ssehub.ValidateTopic(got); err != nil {
			t.Errorf("TopicFor(%q) = %q is no topic: %v", name, got, err)
		}
		if back, ok := durable.NameFor(got); !ok || back != name {
			t.Errorf("NameFor(%q) = %q, %v; want %q", got, back, ok, name)
		}
	}
	if _, err := durable.TopicFor(""); err == nil {
		t.Error("an empty name has a topic")
	}
	if _, err := durable.TopicFor(strings.Repeat("a", 252)); err != nil {
		t.Errorf("a 252-byte name: %v", err) // "ds." + 252 = 255
	}
	if _, err := durable.TopicFor(strings.Repeat("a", 253)); err == nil {
		t.Error("a name whose topic is 256 bytes was accepted")
	}
	for _, bad := range []string{"other.topic", "ds.", "ds.a_2", "ds.a_zz", "ds.a_2e"} {
		if n, ok := durable.NameFor(bad); ok {
			t.Errorf("NameFor(%q) = %q, want no name", bad, n)
		}
	}
}

// FuzzTopicFor: the mapping is one to one and always yields a valid topic.
func FuzzTopicFor(f *testing.F) {
	for _, s := range []string{"a/b", "a.b", "a_2Eb", "//", "x y", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		topic, err := durable.TopicFor(name)
		if err != nil {
			return
		}
		if err := ssehub.ValidateTopic(topic); err != nil {
			t.Fatalf("TopicFor(%q) = %q: %v", name, topic, err)
		}
		if back, ok := durable.NameFor(topic); !ok || back != name {
			t.Fatalf("NameFor(TopicFor(%q)) = %q, %v", name, back, ok)
		}
	})
}

// TestSubscribersSeeStreams: ssehub's own /events subscribers get a
// stream's appends as events of its topic, with the offsets' ids, and
// markers as events of their own type.
func TestSubscribersSeeStreams(t *testing.T) {
	e := newEnv(t, publicOpts())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.url+"/events?topic=ds.chat.*&token="+hubtest.AdminToken, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/events: %d", res.StatusCode)
	}
	evs := make(chan sse.Event, 10)
	go func() {
		d := sse.NewDecoder(bufio.NewReader(res.Body))
		for {
			ev, err := d.Next()
			if err != nil {
				close(evs)
				return
			}
			if ev.Type != "hello" {
				evs <- ev
			}
		}
	}()
	time.Sleep(100 * time.Millisecond) // subscribed
	e.mustCreate("/v1/stream/chat/lobby", textPlain, "")
	off := e.mustAppend("/v1/stream/chat/lobby", textPlain, "hi there")
	var got []sse.Event
	for len(got) < 2 {
		select {
		case ev, ok := <-evs:
			if !ok {
				t.Fatalf("the subscription ended after %v", got)
			}
			got = append(got, ev)
		case <-ctx.Done():
			t.Fatalf("got %v", got)
		}
	}
	if got[0].Type != "ds.create" {
		t.Fatalf("first event %q, want the ds.create marker", got[0].Type)
	}
	id, _ := strconv.ParseUint(off[:16], 10, 64)
	if got[1].Type != "message" || string(got[1].Data) != "hi there" || got[1].ID != strconv.FormatUint(id, 10) {
		t.Fatalf("data event %+v, want message \"hi there\" with id %d (the offset %s)", got[1], id, off)
	}
}

// TestTokens: without public access a stream token reads the streams in
// its scope, a publish token writes them, and nothing else goes.
func TestTokens(t *testing.T) {
	e := newEnv(t, durable.Options{})
	tokens := auth.NewStore(e.th.Store)
	ctx := context.Background()
	reader, _, err := tokens.Create(ctx, auth.CreateOptions{Purpose: auth.PurposeStream, Topics: []string{"ds.team.*"}})
	if err != nil {
		t.Fatal(err)
	}
	writer, _, err := tokens.Create(ctx, auth.CreateOptions{Purpose: auth.PurposePublish, Topics: []string{"ds.team.*"}})
	if err != nil {
		t.Fatal(err)
	}
	want(t, e.do("PUT", "/v1/stream/team/a", "", "Content-Type", textPlain), http.StatusUnauthorized)
	want(t, e.do("GET", "/v1/stream/team/a", ""), http.StatusUnauthorized)
	e.token = writer
	e.mustCreate("/v1/stream/team/a", textPlain, "x")
	want(t, e.do("PUT", "/v1/stream/other", "", "Content-Type", textPlain), http.StatusForbidden)
	want(t, e.do("GET", "/v1/stream/team/a", ""), http.StatusForbidden) // a publish token does not read
	e.token = reader
	if got := e.read("/v1/stream/team/a"); got != "x" {
		t.Fatalf("read %q", got)
	}
	want(t, e.do("HEAD", "/v1/stream/team/a", ""), http.StatusOK)
	want(t, e.do("POST", "/v1/stream/team/a", "y", "Content-Type", textPlain), http.StatusForbidden)
	want(t, e.do("DELETE", "/v1/stream/team/a", ""), http.StatusForbidden)
	e.token = "not-a-token"
	want(t, e.do("GET", "/v1/stream/team/a", ""), http.StatusBadRequest)
	e.token = strings.Repeat("ab", 32) // well-formed, unknown
	want(t, e.do("GET", "/v1/stream/team/a", ""), http.StatusUnauthorized)
	e.token = hubtest.AdminToken
	want(t, e.do("DELETE", "/v1/stream/team/a", ""), http.StatusNoContent)
	// Forking reads the source: the token's scope must cover it too.
	e.mustCreate("/v1/stream/private", textPlain, "secret")
	e.token = writer
	want(t, e.do("PUT", "/v1/stream/team/copy", "", "Stream-Forked-From", "/v1/stream/private"), http.StatusForbidden)
	// Public reads only: writes still need a token.
	o := durable.Options{PublicRead: true}
	pub := newEnv(t, o)
	want(t, pub.do("PUT", "/v1/stream/p", "", "Content-Type", textPlain), http.StatusUnauthorized)
	pub.token = hubtest.AdminToken
	pub.mustCreate("/v1/stream/p", textPlain, "open")
	pub.token = ""
	if got := pub.read("/v1/stream/p"); got != "open" {
		t.Fatalf("public read %q", got)
	}
	if cc := pub.do("GET", "/v1/stream/p?offset=-1", "").h("Cache-Control"); !strings.HasPrefix(cc, "public") {
		t.Fatalf("public stream Cache-Control %q", cc)
	}
}
