package interop_test

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Kill stops the hub with SIGKILL: no shutdown, no final commit.
func (h *hubProc) Kill() {
	h.t.Helper()
	r := h.run
	h.run = nil
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.done
}

// TestCrashKeepsAcknowledgedEvents kills a real `ssehub serve` with SIGKILL
// while 8 publishers run: after a restart on the same data directory every
// acknowledged event is there, and new ids are greater than all of them.
// It runs on each durable store.
func TestCrashKeepsAcknowledgedEvents(t *testing.T) {
	for _, store := range []string{"bolt", "pebble"} {
		t.Run(store, func(t *testing.T) { crashKeepsAcknowledged(t, "--store", store) })
	}
}

func crashKeepsAcknowledged(t *testing.T, extra ...string) {
	h := startHub(t, extra...)
	client := &http.Client{Timeout: 5 * time.Second}
	var mu sync.Mutex
	acked := map[uint64]string{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for p := 0; p < 8; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				data := strconv.Itoa(p) + "-" + strconv.Itoa(i)
				req, _ := http.NewRequest("POST", h.URL()+"/publish/crash.test", strings.NewReader(data))
				req.Header.Set("Authorization", "Bearer "+h.token)
				resp, err := client.Do(req)
				if err != nil {
					return // the hub is gone
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					continue
				}
				id, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(string(b)), `{"id":"`), `"}`), 10, 64)
				if err != nil {
					t.Errorf("ack %q: %v", b, err)
					return
				}
				mu.Lock()
				acked[id] = data
				mu.Unlock()
			}
		}(p)
	}
	time.Sleep(1500 * time.Millisecond)
	h.Kill()
	close(stop)
	wg.Wait()
	mu.Lock()
	n := len(acked)
	var maxID uint64
	for id := range acked {
		maxID = max(maxID, id)
	}
	mu.Unlock()
	if n < 50 {
		t.Fatalf("only %d publishes were acknowledged before the kill", n)
	}

	if err := h.start(h.addr); err != nil {
		t.Fatal(err)
	}
	// Replay everything and check each acknowledged event, byte for byte.
	req, _ := http.NewRequest("GET", h.URL()+"/events?topic=crash.test&last_event_id=0", nil)
	req.Header.Set("Authorization", "Bearer "+h.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := map[uint64]string{}
	sc := bufio.NewScanner(resp.Body)
	var id uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "id: "); ok {
				id, _ = strconv.ParseUint(v, 10, 64)
			} else if v, ok := strings.CutPrefix(line, "data: "); ok {
				got[id] = v
				if id >= maxID {
					return
				}
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("replay after restart did not reach id %d", maxID)
	}
	for id, data := range acked {
		if got[id] != data {
			t.Fatalf("acknowledged event %d (%q) is %q after the crash", id, data, got[id])
		}
	}
	newID, err := strconv.ParseUint(h.Publish("crash.test", "", "after"), 10, 64)
	if err != nil || newID <= maxID {
		t.Fatalf("id after restart %d (%v), want > %d", newID, err, maxID)
	}
	t.Logf("%d acknowledged events survived SIGKILL; next id %d", n, newID)
}
