package httpapi_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/bolt"
	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/httpapi/publish"
	"github.com/ssehub/ssehub/internal/hubtest"
	"github.com/ssehub/ssehub/memory"
)

func withFieldLimits(l publish.FieldLimits) hubOption {
	return func(c *hubtest.Config) { c.Publish.Limits = l }
}

// concurrentPublish runs publishers that each publish n events with a
// short key while bad() sends its requests, and returns the statuses of
// the good publishes (which must all be 200) and of the bad ones.
func concurrentPublish(t *testing.T, th *testHub, publishers, n int, bad func() int) (good map[int]int, bads []int) {
	t.Helper()
	var mu sync.Mutex
	good = map[int]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for p := 0; p < publishers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			<-start
			for i := 0; i < n; i++ {
				path := fmt.Sprintf("/publish/tenant%d.orders?key=k%d-%d", p, p, i)
				resp, _ := send(t, th.newRequest("POST", path, adminToken, "{}", "Content-Type", "application/json"))
				mu.Lock()
				good[resp.StatusCode]++
				mu.Unlock()
			}
		}(p)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-start
		for i := 0; i < n; i++ {
			c := bad()
			mu.Lock()
			bads = append(bads, c)
			mu.Unlock()
		}
	}()
	close(start)
	wg.Wait()
	return good, bads
}

// TestOverlongKeyFailsOnlyItsRequest guards defect 2: a 40,000-byte
// Idempotency-Key sent while other tenants publish made the store refuse
// the whole group commit, failing everyone's publish. Now the key is
// checked against limits.max_key_len before anything is stored: that
// request alone gets 400, every other publish 200.
func TestOverlongKeyFailsOnlyItsRequest(t *testing.T) {
	th := newBoltHub(t)
	key := strings.Repeat("k", 40000)
	good, bads := concurrentPublish(t, th, 8, 25, func() int {
		resp, b := send(t, th.newRequest("POST", "/publish/evil.orders", adminToken, "{}", "Idempotency-Key", key))
		wantError(t, "40 KB Idempotency-Key", resp, b, 400, httpapi.CodeBadField)
		return resp.StatusCode
	})
	if len(good) != 1 || good[200] != 8*25 {
		t.Errorf("other tenants' publishes: statuses %v, want all %d of them 200", good, 8*25)
	}
	for _, c := range bads {
		if c != 400 {
			t.Errorf("the over-long key got %d, want 400 (statuses %v)", c, bads)
			break
		}
	}
}

// TestStoreRefusesOnlyTheOverlongRequest guards defect 2 on the store's
// side: with limits.max_key_len raised past what the store can index
// (bolt and memory keep keys of at most 32 KiB), the store refuses the
// 40 KB key itself. It must refuse that one request (413), never the
// group commit the request shared with others.
func TestStoreRefusesOnlyTheOverlongRequest(t *testing.T) {
	stores := map[string]func(t *testing.T) ssehub.Store{
		"bolt": func(t *testing.T) ssehub.Store {
			l, err := bolt.Open(t.TempDir(), bolt.Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			return l
		},
		"memory": func(*testing.T) ssehub.Store { return memory.New(memory.Options{}) },
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			th := newTestHub(t, open(t), withFieldLimits(publish.FieldLimits{MaxKeyLen: 1 << 20}))
			key := strings.Repeat("k", 40000)
			good, bads := concurrentPublish(t, th, 8, 25, func() int {
				resp, b := send(t, th.newRequest("POST", "/publish/evil.orders", adminToken, "{}", "Idempotency-Key", key))
				wantError(t, "40 KB key past the store's limit", resp, b, 413, httpapi.CodeTooLarge)
				return resp.StatusCode
			})
			if len(good) != 1 || good[200] != 8*25 {
				t.Errorf("other tenants' publishes: statuses %v, want all %d of them 200", good, 8*25)
			}
			if len(bads) == 0 || bads[0] != 413 {
				t.Errorf("the over-long key: statuses %v, want 413", bads)
			}
			pos, err := th.log.Bounds(context.Background())
			if err != nil || pos.Head != 8*25 {
				t.Errorf("stored head %d (%v), want %d: the good publishes alone", pos.Head, err, 8*25)
			}
		})
	}
}

// TestPublishFieldLimits guards defect 2 for every field and every way a
// field reaches the hub: query parameters and the Idempotency-Key header
// of POST /publish/{topic}, a JSON envelope, and a line of an NDJSON
// batch. A field at its limit is stored; one byte over is 400 bad_field
// (bad_topic for the topic) and nothing of the request is stored.
func TestPublishFieldLimits(t *testing.T) {
	const keyLen, fieldLen, metaLen, topicLen = 8, 10, 32, 20
	th := newMemoryHub(t, withFieldLimits(publish.FieldLimits{MaxKeyLen: keyLen, MaxFieldLen: fieldLen, MaxMetaBytes: metaLen}),
		withLimits(httpapi.Limits{MaxTopicLen: topicLen}))
	x := func(n int) string { return strings.Repeat("x", n) }
	meta := func(n int) string { return `{"m":"` + x(n-8) + `"}` } // n bytes of JSON
	head := func() uint64 {
		pos, err := th.log.Bounds(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return pos.Head
	}
	type field struct {
		name, query string // query: the parameter of POST /publish/{topic}, "" if none
		max         int
		code        string
	}
	fields := []field{
		{"key", "key", keyLen, httpapi.CodeBadField},
		{"type", "type", fieldLen, httpapi.CodeBadField},
		{"entity", "entity", fieldLen, httpapi.CodeBadField},
		{"source", "source", fieldLen, httpapi.CodeBadField},
		{"meta", "", metaLen, httpapi.CodeBadField},
		{"topic", "", topicLen, httpapi.CodeBadTopic},
	}
	for _, f := range fields {
		value := func(n int) string {
			switch f.name {
			case "meta":
				return meta(n)
			case "topic":
				return "t." + x(n-2)
			}
			return x(n)
		}
		envelope := func(n int) string {
			ev := map[string]string{"topic": "ok.topic", "data": "1"}
			if f.name == "meta" {
				return fmt.Sprintf(`{"topic":"ok.topic","data":1,"meta":%s}`, meta(n))
			}
			ev[f.name] = value(n)
			return fmt.Sprintf(`{"topic":%q,"data":1,%q:%q}`, ev["topic"], f.name, ev[f.name])
		}
		if f.name == "topic" {
			envelope = func(n int) string { return fmt.Sprintf(`{"topic":%q,"data":1}`, value(n)) }
		}
		type channel struct {
			name string
			req  func(n int) (method, path, ctype, body string, hdr []string)
		}
		channels := []channel{
			{"envelope", func(n int) (string, string, string, string, []string) {
				return "POST", "/publish", "application/json", envelope(n), nil
			}},
			{"ndjson line 2", func(n int) (string, string, string, string, []string) {
				ok := `{"topic":"ok.topic","data":0}`
				return "POST", "/publish", "application/x-ndjson", ok + "\n" + envelope(n) + "\n" + ok + "\n", nil
			}},
		}
		if f.query != "" {
			channels = append(channels, channel{"query ?" + f.query, func(n int) (string, string, string, string, []string) {
				return "POST", "/publish/ok.topic?" + f.query + "=" + url.QueryEscape(value(n)), "", "1", nil
			}})
		}
		if f.name == "key" {
			channels = append(channels, channel{"Idempotency-Key header", func(n int) (string, string, string, string, []string) {
				return "POST", "/publish/ok.topic", "", "1", []string{"Idempotency-Key", value(n)}
			}})
		}
		if f.name == "topic" {
			channels = append(channels, channel{"path", func(n int) (string, string, string, string, []string) {
				return "POST", "/publish/" + value(n), "", "1", nil
			}})
		}
		for _, c := range channels {
			what := f.name + " in " + c.name
			m, p, ct, body, hdr := c.req(f.max)
			if resp, b := th.do(m, p, ct, body, hdr...); resp.StatusCode != 200 {
				t.Errorf("%s at its limit of %d bytes: %d %s", what, f.max, resp.StatusCode, b)
			}
			before := head()
			m, p, ct, body, hdr = c.req(f.max + 1)
			resp, b := th.do(m, p, ct, body, hdr...)
			wantError(t, what+" one byte over its limit", resp, b, 400, f.code)
			if strings.HasPrefix(c.name, "ndjson") && !strings.Contains(string(b), "line 2") {
				t.Errorf("%s: the error does not name the line: %s", what, b)
			}
			if h := head(); h != before {
				t.Errorf("%s: a refused request stored events (head %d -> %d)", what, before, h)
			}
		}
	}
}
