package interop_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSubscriptionAcksSurviveKill: a pull-wake worker claims and acks as
// fast as it can while data is appended, and the hub is killed with
// SIGKILL in the middle: after the restart the subscription's cursor is
// at or past the last ack the hub answered 200 (an answered ack is never
// lost) and never past the last one sent, and its generation has not gone
// back (no old token can fit a new wake).
func TestSubscriptionAcksSurviveKill(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "ssehub.yaml")
	if err := os.WriteFile(cfg, []byte("durable_streams:\n  public_read: true\n  public_write: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := startHub(t, "--config", cfg)
	c := &http.Client{Timeout: 5 * time.Second}
	do := func(method, path, body string, hdr ...string) (int, []byte, error) {
		req, _ := http.NewRequest(method, h.URL()+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		res, err := c.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return res.StatusCode, b, err
	}
	must := func(want int, method, path, body string) {
		t.Helper()
		if st, b, err := do(method, path, body); err != nil || st != want {
			t.Fatalf("%s %s: %d %s %v", method, path, st, b, err)
		}
	}
	must(201, "PUT", "/v1/stream/crash/wake", "[]")
	must(201, "PUT", "/v1/stream/__ds/subscriptions/k", `{"type":"pull-wake","streams":["crash/data"],"wake_stream":"crash/wake","lease_ttl_ms":60000}`)
	must(201, "PUT", "/v1/stream/crash/data", "[]")
	var mu sync.Mutex
	var answered, sent string // offsets: the last ack answered 200, the last sent
	var gen uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if st, _, err := do("POST", "/v1/stream/crash/data", `{"i":1}`); err != nil || st != 204 {
				return
			}
			st, b, err := do("POST", "/v1/stream/__ds/subscriptions/k/claim", `{"worker":"w"}`)
			if err != nil {
				return
			}
			if st != 200 {
				continue
			}
			var cl struct {
				WakeID     string `json:"wake_id"`
				Generation uint64 `json:"generation"`
				Token      string `json:"token"`
				Streams    []struct {
					Tail string `json:"tail_offset"`
				} `json:"streams"`
			}
			if err := json.Unmarshal(b, &cl); err != nil || len(cl.Streams) != 1 {
				t.Errorf("claim %s: %v", b, err)
				return
			}
			ack, _ := json.Marshal(map[string]any{"wake_id": cl.WakeID, "generation": cl.Generation, "done": true,
				"acks": []map[string]string{{"stream": "crash/data", "offset": cl.Streams[0].Tail}}})
			mu.Lock()
			sent, gen = cl.Streams[0].Tail, cl.Generation
			mu.Unlock()
			st, b, err = do("POST", "/v1/stream/__ds/subscriptions/k/ack", string(ack), "Authorization", "Bearer "+cl.Token)
			if err != nil {
				return
			}
			if st != 200 {
				t.Errorf("ack: %d %s", st, b)
				return
			}
			mu.Lock()
			answered = cl.Streams[0].Tail
			mu.Unlock()
		}
	}()
	time.Sleep(1500 * time.Millisecond)
	h.Kill()
	close(stop)
	<-done
	mu.Lock()
	defer mu.Unlock()
	if answered == "" {
		t.Fatal("no ack was answered before the kill")
	}
	if err := h.start(h.addr); err != nil {
		t.Fatal(err)
	}
	st, b, err := do("GET", "/v1/stream/__ds/subscriptions/k", "")
	if err != nil || st != 200 {
		t.Fatalf("GET after the restart: %d %s %v", st, b, err)
	}
	var v struct {
		Generation uint64 `json:"generation"`
		Streams    []struct {
			Acked string `json:"acked_offset"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(b, &v); err != nil || len(v.Streams) != 1 {
		t.Fatalf("%s: %v", b, err)
	}
	if got := v.Streams[0].Acked; got < answered || got > sent {
		t.Fatalf("after the kill the cursor is %s: want from %s (the last ack answered) to %s (the last sent)", got, answered, sent)
	}
	if v.Generation < gen {
		t.Fatalf("generation %d after the kill, %d before", v.Generation, gen)
	}
	t.Logf("cursor %s after the kill (last answered %s), generation %d", v.Streams[0].Acked, answered, v.Generation)
}
