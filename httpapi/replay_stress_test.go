package httpapi_test

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/sse"
)

// TestReplayStress is a stress test of the pump's lost wake-up fix (and
// of the goroutine mode alike): 48 clients replay a few thousand events
// each from a Last-Event-ID, at read speeds from flat out to stalling
// every few events, over loopback, while more events are published. With a
// short subscriber queue and a small hot tier, they lag, catch up from the
// log and rejoin the live feed many times. Every client must get every
// event after its id exactly once, in order; a lost wake-up shows as a
// client that stops short (its deadline, generous, then fails it).
func TestReplayStress(t *testing.T) { forEachMode(t, testReplayStress) }

func testReplayStress(t *testing.T, mode hubOption) {
	const clients, history, live = 48, 3000, 1000
	const total = history + live
	th := newMemoryHub(t, mode, withQueue(32), withHot(256))
	publish := func(from, n int) {
		var batch strings.Builder
		for i := from; i < from+n; i++ {
			fmt.Fprintf(&batch, `{"topic":"r.%d","data":%d}`+"\n", i%4, i+1)
			if (i+1)%500 == 0 || i == from+n-1 {
				if resp, b := th.do("POST", "/publish", "application/x-ndjson", batch.String()); resp.StatusCode != 200 {
					t.Errorf("publish: %d %s", resp.StatusCode, b)
					return
				}
				batch.Reset()
			}
		}
	}
	publish(0, history)

	deadline := time.Now().Add(60 * time.Second)
	var wg sync.WaitGroup
	errs := make(chan string, clients)
	for c := 0; c < clients; c++ {
		rng := rand.New(rand.NewPCG(uint64(c), 7))
		from := rng.IntN(history)
		every := []int{0, 1, 10, 50, 200}[c%5] // pause after this many events (0: never)
		pause := time.Duration(rng.IntN(3)+1) * time.Duration(max(1, every/10)) * 100 * time.Microsecond
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", th.srv.URL+"/events?topic=r.*", nil)
			req.Header.Set("Authorization", "Bearer "+adminToken)
			req.Header.Set("Last-Event-ID", strconv.Itoa(from))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- fmt.Sprintf("client from %d: %v", from, err)
				return
			}
			defer resp.Body.Close()
			stop := time.AfterFunc(time.Until(deadline), func() { resp.Body.Close() })
			defer stop.Stop()
			dec := sse.NewDecoder(bufio.NewReaderSize(resp.Body, 1024))
			next := from + 1
			for n := 0; next <= total; {
				ev, err := dec.Next()
				if err != nil {
					errs <- fmt.Sprintf("client from %d (pausing every %d): stopped at id %d of %d: %v", from, every, next-1, total, err)
					return
				}
				if ev.ID == "" {
					continue // hello
				}
				if ev.ID != strconv.Itoa(next) || string(ev.Data) != ev.ID {
					errs <- fmt.Sprintf("client from %d: got id %s data %q, want id %d (a gap, a duplicate or a reordering)", from, ev.ID, ev.Data, next)
					return
				}
				next++
				if n++; every > 0 && n%every == 0 {
					time.Sleep(pause)
				}
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	publish(history, live)
	wg.Wait()
	close(errs)
	n := 0
	for e := range errs {
		if n++; n <= 10 {
			t.Error(e)
		}
	}
	if n > 10 {
		t.Errorf("… and %d more clients failed", n-10)
	}
}
