package durable_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/internal/natstest"
	ssenats "github.com/ssehub/ssehub/nats"
)

// TestTwoNodesRace: two hub nodes on one NATS log take conflicting
// appends to one stream at the same instant: each round, both get a
// Stream-Seq greater than the last one stored (so each alone would be
// taken), and every fourth round one node closes the stream while the
// other appends. Each node validates against what it last read, so
// before conditional appends both were stored: a Stream-Seq smaller than
// the one before it, data after the close. Now the store takes an append
// only if the stream's topic still ends where the node read it, and the
// loser reads again and decides again: the log never breaks the rules, and
// every request answered 2xx is in it.
func TestTwoNodesRace(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	srv := natstest.Start(t, 1)
	node := func() *env {
		s, err := ssenats.Open(context.Background(), ssenats.Options{URL: srv.URL(), Stream: "RACE", SubjectPrefix: "race",
			ReadyTimeout: 20 * time.Second, Logger: natstest.Quiet})
		if err != nil {
			t.Fatal(err)
		}
		e := &env{t: t, clock: &clock{now: time.Now()}, opts: publicOpts()}
		e.opts.Now = e.clock.Now
		e.startOn(s)
		return e
	}
	a, b := node(), node()
	const rounds = 24
	accepted := 0
	for i := 0; i < rounds; i++ {
		path := fmt.Sprintf("/v1/stream/race/%d", i/4)
		if i%4 == 0 {
			a.mustCreate(path, textPlain, "")
		}
		var wg sync.WaitGroup
		var ra, rb resp
		wg.Add(2)
		closing := i%4 == 3
		go func() {
			defer wg.Done()
			if closing {
				ra = a.do("POST", path, "", "Stream-Closed", "true")
				return
			}
			ra = a.do("POST", path, fmt.Sprintf("a%d;", i), "Content-Type", textPlain, "Stream-Seq", fmt.Sprintf("%04d-b", i))
		}()
		go func() {
			defer wg.Done()
			rb = b.do("POST", path, fmt.Sprintf("b%d;", i), "Content-Type", textPlain, "Stream-Seq", fmt.Sprintf("%04d-a", i))
		}()
		wg.Wait()
		for _, r := range []resp{ra, rb} {
			switch {
			case r.StatusCode/100 == 2:
				if r.h("Stream-Closed") == "" {
					accepted++
				}
			case r.StatusCode == http.StatusConflict:
			default:
				t.Fatalf("round %d: %d %s", i, r.StatusCode, r.body)
			}
		}
	}
	// The log, topic by topic: Stream-Seq strictly increasing, nothing
	// after a close, and as many data events as 2xx answers to appends.
	data := 0
	for s := 0; s < rounds/4; s++ {
		topic := fmt.Sprintf("ds.race.%d", s)
		last, closed := "", false
		err := a.th.Hub.History(context.Background(), 0, ssehub.MustFilter(topic), func(ev *ssehub.Event) error {
			if ev.Topic != topic || ev.Type != "" {
				if ev.Type == "ds.close" {
					closed = true
				}
				return nil
			}
			if closed {
				t.Errorf("%s: data %q after the stream was closed", topic, ev.Data)
			}
			data++
			var m struct {
				Seq   string `json:"ds_stream_seq"`
				Close bool   `json:"ds_close"`
			}
			_ = json.Unmarshal(ev.Meta, &m)
			if m.Seq <= last {
				t.Errorf("%s: Stream-Seq %q stored after %q", topic, m.Seq, last)
			}
			last = m.Seq
			closed = closed || m.Close
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if data != accepted {
		t.Errorf("%d data events in the log, %d appends answered 2xx", data, accepted)
	}
}

// TestConflictAfterRetention: when the events at the end of a stream's
// topic are removed underneath a node (retention; here a purge of the
// subject), the node's last applied id is newer than anything the store
// holds, so a conditional append expecting it is refused every time; the
// node then expects what the store does hold, and the append is taken
// (it used to be refused until the retries ran out: 503).
func TestConflictAfterRetention(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	srv := natstest.Start(t, 1)
	s, err := ssenats.Open(context.Background(), ssenats.Options{URL: srv.URL(), Stream: "RET", SubjectPrefix: "ret",
		ReadyTimeout: 20 * time.Second, Logger: natstest.Quiet})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, clock: &clock{now: time.Now()}, opts: publicOpts()}
	e.opts.Now = e.clock.Now
	e.startOn(s)
	e.mustCreate("/v1/stream/r", textPlain, "one")
	e.mustAppend("/v1/stream/r", textPlain, "two")
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(context.Background(), "RET")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Purge(context.Background(), jetstream.WithPurgeSubject("ret.ds.r")); err != nil {
		t.Fatal(err)
	}
	r := e.do("POST", "/v1/stream/r", "three", "Content-Type", textPlain)
	if r.StatusCode != http.StatusNoContent {
		t.Fatalf("append after the topic's events were removed: %d %s", r.StatusCode, r.body)
	}
}
