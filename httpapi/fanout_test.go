package httpapi_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/sse"
)

// publishDirect appends n events of size bytes to topic through the hub in
// batches, returning the last id.
func (th *testHub) publishDirect(topic string, n, size int) uint64 {
	th.t.Helper()
	pad := strings.Repeat("x", size)
	var last uint64
	for done := 0; done < n; {
		k := min(1000, n-done)
		batch := make([]*ssehub.Event, k)
		for i := range batch {
			batch[i] = &ssehub.Event{Topic: topic, Data: []byte(strconv.Itoa(done+i) + pad)}
		}
		res, err := th.hub.Publish(context.Background(), batch)
		if err != nil {
			th.t.Fatal(err)
		}
		last = res[len(res)-1].ID
		done += k
	}
	return last
}

// readIDs reads events from a stream until id last, checking that ids are
// exactly first..last in order.
func readIDs(t *testing.T, dec *sse.Decoder, first, last uint64) {
	t.Helper()
	want := first
	for want <= last {
		ev, err := dec.Next()
		if err != nil {
			t.Fatalf("after id %d: %v", want-1, err)
		}
		if ev.Type != "message" {
			continue
		}
		id, _ := strconv.ParseUint(ev.ID, 10, 64)
		if id != want {
			t.Fatalf("got id %d, want %d (gap or duplicate)", id, want)
		}
		want++
	}
}

// TestSlowSubscriberDoesNotSlowOthers stops reading one stream while two
// others read at full rate: the others get everything while the slow one is
// stalled, and the slow one, once it reads again, gets everything too.
func TestSlowSubscriberDoesNotSlowOthers(t *testing.T) {
	forEachMode(t, testSlowSubscriberDoesNotSlowOthers)
}

func testSlowSubscriberDoesNotSlowOthers(t *testing.T, mode hubOption) {
	th := newMemoryHub(t, mode, withQueue(16), withHot(512))
	const n, size = 6000, 4096 // ~25 MB: more than the kernel buffers of a stalled socket

	// The slow subscriber: a raw connection that reads nothing for now.
	u, _ := url.Parse(th.srv.URL)
	slow, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fmt.Fprintf(slow, "GET /events?topic=big HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", u.Host, adminToken)

	fast := []*openStream{th.subscribe("/events?topic=big"), th.subscribe("/events?topic=big")}
	var wg sync.WaitGroup
	for _, s := range fast {
		wg.Add(1)
		go func(s *openStream) {
			defer wg.Done()
			readIDs(t, s.dec, 1, n)
		}(s)
	}
	start := time.Now()
	last := th.publishDirect("big", n, size)
	t.Logf("published after %v", time.Since(start))
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("fast subscribers did not finish while one subscriber was stalled")
	}
	t.Logf("fast subscribers done after %v", time.Since(start))
	if th.hub.Stats().CatchUps.Load() == 0 {
		t.Error("the stalled subscriber never switched to catch-up")
	}

	// Now the slow one reads: it must get every event, in order.
	resp, err := http.ReadResponse(bufio.NewReaderSize(slow, 64<<10), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Not resp.Body.Close: it would drain the endless stream; slow.Close ends it.
	_ = slow.SetReadDeadline(time.Now().Add(60 * time.Second))
	readIDs(t, sse.NewDecoder(resp.Body), 1, last)
	t.Logf("slow subscriber done after %v", time.Since(start))
}

// TestReplayMillionBehind replays 1,000,000 events to one client from the
// log, then continues live with no gap and no duplicate.
func TestReplayMillionBehind(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000,000 events; skipped with -short")
	}
	th := newBoltHub(t, withHot(1024))
	const n = 1_000_000
	last := th.publishDirect("replay.big", n, 16)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heapBefore := ms.HeapAlloc
	s := th.subscribe("/events?topic=replay.*", "Last-Event-ID", "0")
	done := make(chan struct{})
	var peak uint64
	go func() {
		defer close(done)
		readIDs(t, s.dec, 1, last)
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case <-done:
			break wait
		case <-tick.C:
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		case <-time.After(5 * time.Minute):
			t.Fatal("replay did not finish")
		}
	}
	// Streaming, not loading: the heap must not grow by anything like the
	// history's size (1M events ≈ 100 MB in memory).
	if peak > heapBefore+64<<20 {
		t.Errorf("heap grew from %d to %d bytes during the replay", heapBefore, peak)
	}
	id := th.publish("replay.big", "live")
	if ev := s.next(t); ev.ID != strconv.FormatUint(id, 10) || string(ev.Data) != "live" {
		t.Fatalf("live after replay: %+v", ev)
	}
}

// TestNoGoroutineLeak opens and closes streams and checks that every
// goroutine they used is gone.
func TestNoGoroutineLeak(t *testing.T) {
	base := runtime.NumGoroutine()
	func() {
		th := newMemoryHub(t)
		for i := 0; i < 20; i++ {
			s := th.subscribe("/events?topic=leak.*", "Last-Event-ID", "0")
			th.publish("leak.x", "1")
			s.next(t)
			s.resp.Body.Close()
		}
	}()
	// The cleanup of the hub above runs at the end of the test; run it now.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		http.DefaultClient.CloseIdleConnections()
		if runtime.NumGoroutine() <= base+30 { // the hub of this test still runs until cleanup
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > base+30 {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines, %d at start:\n%s", g, base, buf[:runtime.Stack(buf, true)])
	}
}
