package interop_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestPullCrashKill9 kills a real `ssehub serve` with SIGKILL while three
// extractors take and confirm batches of an http_pull sink, restarts it on
// the same data, and goes on until every event is confirmed: no event
// comes back after its confirmation was answered, and every event is
// confirmed in the end (nothing unconfirmed is lost).
func TestPullCrashKill9(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfg, []byte("sink:\n  jobs:\n    type: http_pull\n    match: \"jobs.*\"\n    lease: 1s\n    batch_size: 7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := startHub(t, "--config", cfg)
	const n = 3000
	var want []uint64
	for i := 0; i < n; i += 100 {
		var b strings.Builder
		for j := range 100 {
			fmt.Fprintf(&b, `{"topic":"jobs.q%d","data":{"i":%d}}`+"\n", j%3, i+j)
		}
		st, body := h.post("/publish", "application/x-ndjson", b.String())
		var out struct{ IDs []string }
		if st != 200 || json.Unmarshal([]byte(body), &out) != nil {
			t.Fatalf("publish: %d %s", st, body)
		}
		for _, s := range out.IDs {
			var id uint64
			fmt.Sscan(s, &id)
			want = append(want, id)
		}
	}
	var mu sync.Mutex
	confirmed := map[uint64]bool{}
	maybe := map[uint64]bool{} // a confirmation without an answer
	var up sync.RWMutex        // held for writing while the hub is down
	client := &http.Client{Timeout: 5 * time.Second}
	call := func(method, path string) (int, []byte, error) {
		up.RLock()
		base := h.URL()
		up.RUnlock()
		req, _ := http.NewRequest(method, base+path, nil)
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, b, err
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				st, body, err := call("GET", "/jobs/extract")
				if err != nil || st != 200 {
					time.Sleep(50 * time.Millisecond)
					continue
				}
				var x struct {
					BatchID *uint64 `json:"batch_id"`
					Events  []struct {
						ID uint64 `json:"id"`
					} `json:"events"`
				}
				if err := json.Unmarshal(body, &x); err != nil {
					t.Errorf("extract: %s: %v", body, err)
					return
				}
				if x.BatchID == nil {
					time.Sleep(100 * time.Millisecond) // leases run out
					continue
				}
				mu.Lock()
				for _, ev := range x.Events {
					if confirmed[ev.ID] {
						t.Errorf("event %d came back after its confirmation was answered", ev.ID)
					}
				}
				mu.Unlock()
				st, body, err = call("POST", fmt.Sprintf("/jobs/mark-processed?batch_id=%d", *x.BatchID))
				if err != nil || st != 200 {
					// Not confirmed as far as we know: the hub may have
					// committed the confirmation and been killed before
					// answering (then the events never come back), or not
					// (then they come back and are confirmed later).
					mu.Lock()
					for _, ev := range x.Events {
						maybe[ev.ID] = true
					}
					mu.Unlock()
					continue
				}
				var c struct {
					Status string `json:"status"`
					Marked int    `json:"marked_count"`
				}
				if json.Unmarshal(body, &c) != nil || c.Status != "ok" || c.Marked != len(x.Events) {
					t.Errorf("confirm: %s", body)
				}
				mu.Lock()
				for _, ev := range x.Events {
					confirmed[ev.ID] = true
				}
				mu.Unlock()
			}
		}()
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(confirmed) }
	settled := func() int { // confirmed, or confirmed without an answer
		mu.Lock()
		defer mu.Unlock()
		n := len(confirmed)
		for id := range maybe {
			if !confirmed[id] {
				n++
			}
		}
		return n
	}
	for kill := range 3 {
		base := count() // kill while batches are being taken and confirmed
		if err := waitFor(30*time.Second, func() bool { return count() >= base+n/6 }); err != nil {
			t.Fatalf("only %d of %d confirmed before kill %d", count(), n, kill+1)
		}
		up.Lock()
		h.Kill()
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := h.start(h.addr)
			if err == nil {
				break
			}
			if time.Now().After(deadline) || !strings.Contains(err.Error(), "address already in use") {
				up.Unlock()
				t.Fatalf("restart: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		up.Unlock()
		t.Logf("kill -9 number %d with %d of %d events confirmed", kill+1, count(), n)
	}
	if err := waitFor(60*time.Second, func() bool { return settled() == n }); err != nil {
		t.Errorf("%d of %d events confirmed in the end (%d of them without an answer)", settled(), n, settled()-count())
	}
	close(done)
	wg.Wait()
	// Drain what is left: the events of confirmations that had no answer
	// and that the hub had not committed come back once their leases run
	// out, and are confirmed now; those it had committed never do.
	start, deadline := time.Now(), time.Now().Add(20*time.Second)
	for {
		st, body, err := call("GET", "/jobs/extract")
		var x struct {
			BatchID *uint64 `json:"batch_id"`
			Events  []struct {
				ID uint64 `json:"id"`
			} `json:"events"`
			Remaining int `json:"remaining_events"`
		}
		if err != nil || st != 200 || json.Unmarshal(body, &x) != nil {
			t.Fatalf("extract: %d %s %v", st, body, err)
		}
		if x.BatchID == nil && x.Remaining == 0 {
			if time.Since(start) > 2*time.Second { // every lease (1 s) has run out
				break
			}
			time.Sleep(200 * time.Millisecond)
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("events still handed out after every one was settled: %s", body)
		}
		if x.BatchID == nil {
			time.Sleep(200 * time.Millisecond) // leases run out
			continue
		}
		if st, body, err := call("POST", fmt.Sprintf("/jobs/mark-processed?batch_id=%d", *x.BatchID)); err != nil || st != 200 {
			t.Fatalf("confirm: %d %s %v", st, body, err)
		}
		mu.Lock()
		for _, ev := range x.Events {
			if confirmed[ev.ID] {
				t.Errorf("event %d came back after its confirmation was answered", ev.ID)
			}
			if !maybe[ev.ID] {
				t.Errorf("event %d came back though its confirmation was neither answered nor lost", ev.ID)
			}
			confirmed[ev.ID] = true
		}
		mu.Unlock()
	}
	t.Logf("%d events confirmed with an answer, %d by a confirmation whose answer the kill cut off", count(), settled()-count())
	mu.Lock()
	defer mu.Unlock()
	for _, id := range want {
		if !confirmed[id] && !maybe[id] {
			t.Errorf("event %d was never confirmed: lost", id)
		}
	}
}
