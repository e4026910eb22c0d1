package stream_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/format"
	"github.com/ssehub/ssehub/httpapi/stream"
	"github.com/ssehub/ssehub/internal/hubtest"
	"github.com/ssehub/ssehub/memory"
)

// frame is one dispatched SSE event as a client sees it.
type frame struct{ typ, id, data string }

// readFrames reads frames from a stream until fn returns false.
func readFrames(t *testing.T, url string, hdr []string, fn func(frame) bool) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	var f frame
	var data []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data != nil {
				f.data = strings.Join(data, "\n")
				if !fn(f) {
					return
				}
			}
			f, data = frame{}, nil
		case strings.HasPrefix(line, "event: "):
			f.typ = line[7:]
		case strings.HasPrefix(line, "id: "):
			f.id = line[4:]
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimPrefix(line[5:], " "))
		}
	}
	t.Fatalf("stream ended: %v", sc.Err())
}

func initHub(t *testing.T) *hubtest.Hub {
	return hubtest.New(t, memory.New(memory.Options{}), func(c *hubtest.Config) {
		c.Stream.Streams = []stream.Endpoint{
			{Name: "stock", Path: "/stock/", Match: ssehub.MustFilter("sku.*"), Format: format.Raw, Replay: true,
				Hello: "none", Init: "last", Public: true},
			{Name: "few", Path: "/few/", Match: ssehub.All(), Format: format.Raw, Hello: "none", Init: "last",
				InitMaxTopics: 2, Public: true},
		}
	})
}

func publish(t *testing.T, th *hubtest.Hub, topic, typ, data string) uint64 {
	t.Helper()
	res, err := th.Hub.Publish(context.Background(), []*ssehub.Event{{Topic: topic, Type: typ, Data: []byte(data)}})
	if err != nil {
		t.Error(err) // from other goroutines too
		return 0
	}
	return res[0].ID
}

// TestInitLast: one init event per matching topic with its latest event,
// before anything else, without an id; then live events; a resuming
// client's init is the state at its Last-Event-ID, then the replay.
func TestInitLast(t *testing.T) {
	th := initHub(t)
	publish(t, th, "sku.a", "stockUpdated", `{"sku":"a","stock":1}`)
	publish(t, th, "sku.b", "stockUpdated", `{"sku":"b","stock":5}`)
	mid := publish(t, th, "sku.a", "stockUpdated", `{"sku":"a","stock":2}`)
	publish(t, th, "other", "x", `{}`)
	var got []frame
	readFrames(t, th.Srv.URL+"/stock/", nil, func(f frame) bool {
		got = append(got, f)
		if len(got) == 2 {
			go publish(t, th, "sku.b", "stockUpdated", `{"sku":"b","stock":4}`)
		}
		return len(got) < 3
	})
	want := []frame{{"init", "", `{"sku":"b","stock":5}`}, {"init", "", `{"sku":"a","stock":2}`}, {"stockUpdated", "5", `{"sku":"b","stock":4}`}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	// Resuming from mid-1: the state then (a=1, b=5), then the replay.
	got = nil
	readFrames(t, th.Srv.URL+"/stock/", []string{"Last-Event-ID", fmt.Sprint(mid - 1)}, func(f frame) bool {
		got = append(got, f)
		return len(got) < 4
	})
	want = []frame{{"init", "", `{"sku":"a","stock":1}`}, {"init", "", `{"sku":"b","stock":5}`},
		{"stockUpdated", "3", `{"sku":"a","stock":2}`}, {"stockUpdated", "5", `{"sku":"b","stock":4}`}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("resumed: got %q\nwant %q", got, want)
	}
	// ?event_type= narrows the init events too; the bound cuts a * match.
	got = nil
	readFrames(t, th.Srv.URL+"/stock/?event_type=sku.b", nil, func(f frame) bool {
		got = append(got, f)
		go publish(t, th, "sku.b", "stockUpdated", `{"sku":"b","stock":3}`)
		return len(got) < 2
	})
	if got[0] != (frame{"init", "", `{"sku":"b","stock":4}`}) || got[1].typ != "stockUpdated" {
		t.Fatalf("narrowed: %q", got)
	}
	got = nil
	readFrames(t, th.Srv.URL+"/few/", nil, func(f frame) bool {
		got = append(got, f)
		if len(got) == 2 {
			go publish(t, th, "zzz", "", "live")
		}
		return len(got) < 3
	})
	if got[0].typ != "init" || got[1].typ != "init" || got[2].data != "live" {
		t.Fatalf("init_max_topics 2: %q", got)
	}
}

// TestInitLastUnderConcurrentPublishing connects clients while publishers
// write to several topics: for every client and topic, the events after
// the topic's init event are exactly the topic's next ones, none missing,
// none twice.
func TestInitLastUnderConcurrentPublishing(t *testing.T) {
	th := initHub(t)
	const topics = 4
	var seq [topics]atomic.Int64
	for i := range topics {
		publish(t, th, fmt.Sprintf("sku.t%d", i), "u", fmt.Sprintf(`{"t":%d,"n":0}`, i))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range topics {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				// One publisher per topic, so a topic's n follows its ids.
				n := seq[i].Add(1)
				publish(t, th, fmt.Sprintf("sku.t%d", i), "u", fmt.Sprintf(`{"t":%d,"n":%d}`, i, n))
			}
		}()
	}
	var cwg sync.WaitGroup
	for c := range 8 {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			time.Sleep(time.Duration(c) * 15 * time.Millisecond)
			last := map[int]int{}
			inits := 0
			lives := 0
			readFrames(t, th.Srv.URL+"/stock/", nil, func(f frame) bool {
				var v struct{ T, N int }
				if err := json.Unmarshal([]byte(f.data), &v); err != nil {
					t.Errorf("client %d: %q: %v", c, f.data, err)
					return false
				}
				switch f.typ {
				case "init":
					if lives > 0 || f.id != "" {
						t.Errorf("client %d: init %q after live events or with an id", c, f)
					}
					last[v.T] = v.N
					inits++
				default:
					lives++
					prev, ok := last[v.T]
					if !ok {
						t.Errorf("client %d: an event of topic %d without its init", c, v.T)
					} else if v.N != prev+1 {
						t.Errorf("client %d: topic %d went from %d to %d", c, v.T, prev, v.N)
					}
					last[v.T] = v.N
				}
				return lives < 200 && !t.Failed()
			})
			if inits != topics {
				t.Errorf("client %d: %d init events, want %d", c, inits, topics)
			}
		}()
	}
	cwg.Wait()
	close(stop)
	wg.Wait()
}
