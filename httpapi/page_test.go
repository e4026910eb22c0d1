package httpapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/httpapi/stream"
	"github.com/ssehub/ssehub/internal/hubtest"
)

func withPageBytes(n int) hubOption {
	return func(c *hubtest.Config) { c.Stream.MaxPageBytes = n }
}

// pageEvent is an event of a JSON history page.
type pageEvent struct {
	ID        uint64          `json:"id"`
	EventType string          `json:"event_type"`
	Data      json.RawMessage `json:"data"`
}

// TestHistoryPagesAreBoundedByBytes guards defect 6: a JSON history page
// was built whole in memory (24 events of 1 MiB made a 144 MiB answer and
// +408 MiB of RSS). A page is streamed and holds at most MaxPageBytes of
// events (or one event, when that one alone is larger) and ?limit= events;
// paging on with next gives every event the filter matches exactly once,
// in order, and a page without events ends it.
func TestHistoryPagesAreBoundedByBytes(t *testing.T) {
	const pageBytes = 64 << 10
	th := newMemoryHub(t, withPageBytes(pageBytes))
	sizes := map[uint64]int{}
	var want []uint64 // the a.* events
	for i := 0; i < 120; i++ {
		n := (i * 7919) % (20 << 10) // up to 20 KiB
		if i%17 == 5 {
			n = 100 << 10 // larger than a page
		}
		topic := "a.x"
		if i%3 == 2 {
			topic = "b.x"
		}
		id := th.publish(topic, strings.Repeat("d", n))
		sizes[id] = n
		if topic == "a.x" {
			want = append(want, id)
		}
	}
	type pageResult struct {
		Events []pageEvent `json:"events"`
		Next   string      `json:"next"`
	}
	walk := func(query string, limit int) []uint64 {
		t.Helper()
		var got []uint64
		after := ""
		for pages := 0; ; pages++ {
			if pages > 500 {
				t.Fatal("paging does not end")
			}
			q := query
			if after != "" {
				q += "&after=" + after
			}
			resp, b := th.do("GET", "/events?"+q, "", "", "Accept", "application/json")
			if resp.StatusCode != 200 {
				t.Fatalf("page %s: %d %.300s", q, resp.StatusCode, b)
			}
			var p pageResult
			bodyJSON(t, b, &p)
			if len(p.Events) > limit {
				t.Errorf("page %s: %d events, past ?limit=%d", q, len(p.Events), limit)
			}
			if len(p.Events) > 1 && len(b) > pageBytes+200 {
				t.Errorf("page %s: %d bytes with %d events, past the bound of %d", q, len(b), len(p.Events), pageBytes)
			}
			if len(p.Events) == 1 && len(b) > sizes[p.Events[0].ID]+pageBytes {
				t.Errorf("page %s: %d bytes for one event of %d", q, len(b), sizes[p.Events[0].ID])
			}
			for _, ev := range p.Events {
				if ev.EventType != "a.x" {
					t.Errorf("page %s: event %d of %s", q, ev.ID, ev.EventType)
				}
				if n := len(ev.Data) - 2; n != sizes[ev.ID] {
					t.Errorf("event %d: %d bytes of data, want %d", ev.ID, n, sizes[ev.ID])
				}
				got = append(got, ev.ID)
			}
			if len(p.Events) == 0 {
				return got
			}
			// next is the last event's id, or past it up to the head when
			// the page scanned that far.
			if n, err := strconv.ParseUint(p.Next, 10, 64); err != nil || n < p.Events[len(p.Events)-1].ID || n > 120 {
				t.Errorf("page %s: next %q after event %d", q, p.Next, p.Events[len(p.Events)-1].ID)
			}
			after = p.Next
		}
	}
	for _, c := range []struct {
		query string
		limit int
	}{{"topic=a.*", 100}, {"topic=a.*&limit=3", 3}, {"topic=a.*&limit=1", 1}, {"topic=a.x&limit=1000", 1000}} {
		got := walk(c.query, c.limit)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("paging %s: got %d events %v\nwant %d %v", c.query, len(got), got, len(want), want)
		}
	}
	// The last page's next is the head: nothing is read twice afterwards.
	resp, b := th.do("GET", "/events?topic=a.*&after="+strconv.FormatUint(want[len(want)-1], 10), "", "", "Accept", "application/json")
	var last pageResult
	bodyJSON(t, b, &last)
	if resp.StatusCode != 200 || len(last.Events) != 0 || last.Next != "120" {
		t.Errorf("after the last event: %d %s", resp.StatusCode, b)
	}
	for _, q := range []string{"after=x", "after=-1", "limit=0", "limit=100000", "limit=x"} {
		resp, b := th.do("GET", "/events?topic=a.*&"+q, "", "", "Accept", "application/json")
		wantError(t, "page ?"+q, resp, b, 400, "")
	}
}

// TestBigHistoryPagesDoNotSitInMemory guards defect 6's memory: 24 events
// of 1 MiB (6 MiB each in JSON, as bytes below 0x20 are escaped), paged by
// 8 clients at once with the default bounds (4 MiB a page: one such event
// a page). The clients read and drop what they get, so the heap shows the
// hub's own: the store's 24 MiB are already in it, and each page being
// written holds its current event, encoded (6 MiB, in a buffer grown by
// doubling, whose old copies are garbage until the next collection). The
// bound, 8 × 16 MiB + 48 MiB, is generous; a page built whole held
// 144 MiB for each client.
func TestBigHistoryPagesDoNotSitInMemory(t *testing.T) {
	th := newMemoryHub(t)
	big := strings.Repeat("\x01", 1<<20)
	for i := 0; i < 24; i++ {
		th.publish("big.x", big)
	}
	defer debug.SetGCPercent(debug.SetGCPercent(25)) // less garbage counted as in use
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	peak.Store(before.HeapInuse)
	stop := make(chan struct{})
	var sampled sync.WaitGroup
	sampled.Add(1)
	go func() {
		defer sampled.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
		}
	}()
	var wg sync.WaitGroup
	for c := 0; c < 8; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := th.newRequest("GET", "/events?topic=big.x&limit=1000", adminToken, "", "Accept", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			n, err := io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != 200 || err != nil || n > 4<<20+7<<20 {
				t.Errorf("a page of big events: %d, %d bytes, %v", resp.StatusCode, n, err)
			}
		}()
	}
	wg.Wait()
	close(stop)
	sampled.Wait()
	grew := int64(peak.Load()) - int64(before.HeapInuse)
	t.Logf("heap in use grew by %d MiB at most while 8 clients paged", grew>>20)
	if grew > 8*16<<20+48<<20 {
		t.Errorf("heap in use grew by %d MiB while 8 clients paged", grew>>20)
	}
}

// TestLiveOnlyStreamRefusesPage guards defect 6's other half: a replay:
// false stream still served history through the JSON page. A live-only
// stream has no history to page: 406, JSON error.
func TestLiveOnlyStreamRefusesPage(t *testing.T) {
	th := newMemoryHub(t, withStreams(
		stream.Endpoint{Name: "live", Path: "/live/", Match: ssehub.All(), Replay: false, Public: true},
		stream.Endpoint{Name: "tok", Path: "/tok/", Match: ssehub.All(), Replay: false},
		stream.Endpoint{Name: "hist", Path: "/hist/", Match: ssehub.All(), Replay: true, Public: true},
	))
	th.publish("a.x", "1")
	for _, p := range []string{"/live/", "/tok/", "/live/?after=0", "/tok/?event_type=a.x"} {
		resp, b := th.do("GET", p, "", "", "Accept", "application/json")
		wantError(t, "a JSON page of live-only "+p, resp, b, 406, httpapi.CodeNotAccept)
	}
	if resp, b := th.do("GET", "/hist/", "", "", "Accept", "application/json"); resp.StatusCode != 200 || !strings.Contains(string(b), `"event_type":"a.x"`) {
		t.Errorf("a JSON page of a replay stream: %d %s", resp.StatusCode, b)
	}
}

// TestStalledPageReaderDoesNotBlockPublishes: the class of defects 2 and
// 6 together. A history page was written to its client from inside the
// store's read (bolt calls Read's fn inside a read transaction), so a
// client that asks for a page and reads none of it held that transaction
// open as long as it stayed connected, and bolt cannot grow its memory
// map under an open read transaction: once the log outgrew the map, every
// publish of every tenant hung. A page is now read into a bounded buffer
// and written with the store's read finished, under the write timeout.
func TestStalledPageReaderDoesNotBlockPublishes(t *testing.T) {
	th := newBoltHub(t, func(c *hubtest.Config) { c.Stream.WriteTimeout = 2 * time.Second })
	for i := 0; i < 40; i++ {
		th.publish("hist.x", strings.Repeat("h", 100<<10)) // 4 MiB of history
	}
	for i := 0; i < 4; i++ { // readers that ask for pages and read nothing
		c := th.dial()
		c.(*net.TCPConn).SetReadBuffer(4 << 10)
		fmt.Fprintf(c, "GET /events?topic=hist.x&limit=1000 HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\nAuthorization: Bearer %s\r\n\r\n", adminToken)
	}
	time.Sleep(300 * time.Millisecond) // their handlers fill the sockets
	done := make(chan error, 1)
	go func() {
		// 32 MiB more: the log outgrows bolt's memory map several times.
		big := strings.Repeat("p", 512<<10)
		for i := 0; i < 64; i++ {
			req, _ := http.NewRequest("POST", th.srv.URL+"/publish/other.tenant", strings.NewReader(big))
			req.Header.Set("Authorization", "Bearer "+adminToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				done <- err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				done <- fmt.Errorf("publish %d: status %d", i, resp.StatusCode)
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("publishes hang while clients hold history pages unread")
	}
}
