package interop_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/ssehub/ssehub/sse"
)

// natsNode is one `ssehub serve` process with an embedded NATS server.
type natsNode struct {
	*hubProc
	name      string
	natsURL   string
	configDir string
}

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startNATSCluster starts three `ssehub serve` processes whose embedded
// NATS servers form one cluster with an R3 stream, configured with the
// storage.nats.embedded keys a deployment uses. They start at once: each
// waits for the others before its JetStream is ready. One admin token
// serves every node.
func startNATSCluster(t *testing.T) []*natsNode {
	t.Helper()
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		t.Fatal(err)
	}
	token := hex.EncodeToString(raw[:])
	dir := t.TempDir()
	const n = 3
	var routes []string
	cports := make([]int, n)
	for i := range cports {
		cports[i] = freeLoopbackPort(t)
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", cports[i]))
	}
	nodes := make([]*natsNode, n)
	for i := range nodes {
		name := fmt.Sprintf("n%d", i+1)
		cport := freeLoopbackPort(t)
		cfg := fmt.Sprintf(`storage:
  driver: nats
  nats:
    stream: EVENTS
    replicas: 3
    publish_timeout: 1s
    embedded:
      name: %s
      listen: 127.0.0.1:%d
      cluster_listen: 127.0.0.1:%d
      routes: [%s]
      store_dir: %s
`, name, cport, cports[i], strings.Join(routes, ", "), filepath.Join(dir, name, "nats"))
		path := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		h := &hubProc{t: t, dataDir: filepath.Join(dir, name, "data"), extra: []string{"--config", path}, token: token, logs: new(syncBuffer)}
		nodes[i] = &natsNode{hubProc: h, name: name, natsURL: fmt.Sprintf("nats://127.0.0.1:%d", cport), configDir: dir}
		t.Cleanup(func() {
			if h.run != nil {
				_ = h.run.cmd.Process.Kill()
				<-h.run.done
				h.run = nil
			}
			if t.Failed() {
				t.Logf("%s output:\n%s", name, h.logs.String())
			}
		})
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, nd := range nodes {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = nd.start("127.0.0.1:0") }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, nd := range nodes {
		if err := waitFor(20*time.Second, func() bool { return nd.status("GET", "/readyz") == 200 }); err != nil {
			t.Fatalf("%s never ready: %v", nd.name, err)
		}
	}
	return nodes
}

func (nd *natsNode) status(method, path string) int {
	req, _ := http.NewRequest(method, nd.URL()+path, nil)
	req.Header.Set("Authorization", "Bearer "+nd.token)
	resp, err := (&http.Client{Timeout: 3 * time.Second}).Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// tryPublish publishes data with data as its idempotency key.
func (nd *natsNode) tryPublish(topic, data string) (uint64, int) {
	req, _ := http.NewRequest("POST", nd.URL()+"/publish/"+topic, strings.NewReader(data))
	req.Header.Set("Authorization", "Bearer "+nd.token)
	req.Header.Set("Idempotency-Key", data)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return 0, resp.StatusCode
	}
	var out struct{ ID string }
	_ = json.Unmarshal(b, &out)
	id, _ := strconv.ParseUint(out.ID, 10, 64)
	return id, 200
}

// sseReader collects the ids of one stream.
type sseReader struct {
	mu   sync.Mutex
	ids  []uint64
	done chan error
	resp *http.Response
}

func (nd *natsNode) subscribe(t *testing.T, path, lastID string) *sseReader {
	t.Helper()
	req, _ := http.NewRequest("GET", nd.URL()+path, nil)
	req.Header.Set("Authorization", "Bearer "+nd.token)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("subscribe %s%s: %v %v", nd.name, path, resp, err)
	}
	r := &sseReader{done: make(chan error, 1), resp: resp}
	t.Cleanup(func() { resp.Body.Close() })
	go func() {
		dec := sse.NewDecoder(bufio.NewReader(resp.Body))
		for {
			ev, err := dec.Next()
			if err != nil {
				r.done <- err
				return
			}
			if ev.Type != "message" {
				continue
			}
			id, _ := strconv.ParseUint(ev.ID, 10, 64)
			r.mu.Lock()
			r.ids = append(r.ids, id)
			r.mu.Unlock()
		}
	}()
	return r
}

func (r *sseReader) snapshot() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]uint64(nil), r.ids...)
}

// waitLast waits until the reader has an id >= id.
func (r *sseReader) waitLast(id uint64, timeout time.Duration) error {
	return waitFor(timeout, func() bool {
		ids := r.snapshot()
		return len(ids) > 0 && ids[len(ids)-1] >= id
	})
}

func dense(ids []uint64, from uint64) error {
	for i, id := range ids {
		if id != from+uint64(i)+1 {
			return fmt.Errorf("event %d has id %d, want %d (gap or duplicate)", i, id, from+uint64(i)+1)
		}
	}
	return nil
}

// streamLeader asks the embedded servers which one leads the stream.
func streamLeader(t *testing.T, nodes []*natsNode, skip int) int {
	t.Helper()
	for i, nd := range nodes {
		if i == skip {
			continue
		}
		nc, err := nats.Connect(nd.natsURL, nats.Timeout(2*time.Second))
		if err != nil {
			continue
		}
		js, _ := jetstream.New(nc)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		s, err := js.Stream(ctx, "EVENTS")
		cancel()
		nc.Close()
		if err != nil || s.CachedInfo().Cluster == nil {
			continue
		}
		for j, m := range nodes {
			if m.name == s.CachedInfo().Cluster.Leader {
				return j
			}
		}
	}
	t.Fatal("no stream leader found")
	return -1
}

// TestNATSClusterProcesses runs three real `ssehub serve` processes on
// their embedded NATS cluster (R3). Events published on node 1 reach
// streams on nodes 2 and 3 with identical ids, and a stream on node 2
// resumes exactly from an id node 3 gave; a token created on node 1 is
// revoked on node 3 and its stream on node 2 ends. Then the process whose
// server leads the stream is killed with SIGKILL while publishers run
// against the others: every acknowledged event survives, none is stored
// twice, publishes in the election either succeed or get 503, and the
// client of the killed node reconnects to another with its Last-Event-ID
// and misses nothing. The failover time (SIGKILL to the first
// acknowledged publish) is logged.
func TestNATSClusterProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three hub processes and kills one")
	}
	start := time.Now()
	nodes := startNATSCluster(t)
	t.Logf("three nodes ready in %v", time.Since(start).Round(time.Millisecond))

	// Same ids everywhere, exact resume across nodes.
	s2 := nodes[1].subscribe(t, "/events?topic=c.*", "")
	s3 := nodes[2].subscribe(t, "/events?topic=c.*", "")
	var last uint64
	for i := 0; i < 100; i++ {
		id, status := nodes[0].tryPublish("c."+strconv.Itoa(i%2), "c"+strconv.Itoa(i))
		if status != 200 {
			t.Fatalf("publish: %d", status)
		}
		last = id
	}
	for _, r := range []*sseReader{s2, s3} {
		if err := r.waitLast(last, 20*time.Second); err != nil {
			t.Fatalf("stream did not reach %d: %v", last, err)
		}
	}
	a, b := s2.snapshot(), s3.snapshot()
	if !slices.Equal(a, b) || dense(a, 0) != nil {
		t.Fatalf("nodes 2 and 3 disagree or have holes:\n%v\n%v", a, b)
	}
	resumed := nodes[1].subscribe(t, "/events?topic=c.*", strconv.FormatUint(b[49], 10))
	if err := resumed.waitLast(last, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := dense(resumed.snapshot(), b[49]); err != nil {
		t.Fatalf("resumed on node 2 from node 3's id %d: %v", b[49], err)
	}

	// A token made on node 1, used on node 2, revoked on node 3.
	req, _ := http.NewRequest("POST", nodes[0].URL()+"/api/tokens", strings.NewReader(`{"purpose":"stream"}`))
	req.Header.Set("Authorization", "Bearer "+nodes[0].token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("create token: %v %v", resp, err)
	}
	var tok struct{ ID, Token string }
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	sreq, _ := http.NewRequest("GET", nodes[1].URL()+"/events?topic=c.*", nil)
	sreq.Header.Set("Authorization", "Bearer "+tok.Token)
	sresp, err := http.DefaultClient.Do(sreq)
	if err != nil || sresp.StatusCode != 200 {
		t.Fatalf("token from node 1 on node 2: %v %v", sresp, err)
	}
	revoked := time.Now()
	if st := nodes[2].status("DELETE", "/api/tokens/"+tok.ID); st != 200 {
		t.Fatalf("revoke on node 3: %d", st)
	}
	ended := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, sresp.Body); close(ended) }()
	select {
	case <-ended:
		t.Logf("revoked on node 3; the stream on node 2 ended %v later", time.Since(revoked).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Fatal("the revoked token's stream on node 2 is still open after 5s")
	}

	// SIGKILL the process whose server leads the stream.
	victim := streamLeader(t, nodes, -1)
	var survivors []*natsNode
	for i, nd := range nodes {
		if i != victim {
			survivors = append(survivors, nd)
		}
	}
	client := nodes[victim].subscribe(t, "/events?topic=f.*", "")
	var mu sync.Mutex
	acked := map[uint64]string{}
	refused, other := 0, 0
	var killed, firstOK time.Time // the first publish sent after the kill and acknowledged
	killed = time.Now().Add(time.Hour)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for p := 0; p < 4; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := 0; ; i++ {
				data := fmt.Sprintf("f%d-%d", p, i)
				for try := 0; ; try++ {
					select {
					case <-stop:
						return
					default:
					}
					sent := time.Now()
					id, status := survivors[(i+try)%len(survivors)].tryPublish("f.t", data)
					mu.Lock()
					switch status {
					case 200:
						acked[id] = data
						if sent.After(killed) && firstOK.IsZero() {
							firstOK = time.Now()
						}
					case 503, 0:
						refused++
					default:
						other++
					}
					mu.Unlock()
					if status == 200 {
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		}(p)
	}
	time.Sleep(time.Second)
	mu.Lock()
	killed = time.Now()
	mu.Unlock()
	nodes[victim].Kill()
	var failover time.Duration
	if err := waitFor(30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		failover = firstOK.Sub(killed)
		return !firstOK.IsZero()
	}); err != nil {
		t.Fatal("no publish acknowledged within 30s of the SIGKILL")
	}
	t.Logf("failover: first acknowledged publish %v after SIGKILL of the stream leader's process", failover.Round(time.Millisecond))
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if other > 0 {
		t.Errorf("%d publishes answered with a status other than 200 or 503", other)
	}
	var maxID uint64
	for id := range acked {
		maxID = max(maxID, id)
	}
	// The killed node's client resumes on a survivor from its last id.
	before := client.snapshot()
	from := uint64(0)
	if len(before) > 0 {
		from = before[len(before)-1]
	}
	if err := dense(before, last+1); err != nil && len(before) > 0 && before[0] > last+2 {
		t.Logf("first f.* id %d", before[0])
	}
	again := survivors[0].subscribe(t, "/events?topic=f.*", strconv.FormatUint(from, 10)) // as a client would, after its retry delay
	if err := again.waitLast(maxID, 30*time.Second); err != nil {
		t.Fatalf("the reconnected client did not reach %d: %v", maxID, err)
	}
	got := append(before, again.snapshot()...)
	seen := map[uint64]bool{}
	for i, id := range got {
		if seen[id] || i > 0 && id <= got[i-1] {
			t.Fatalf("the client saw id %d twice or out of order", id)
		}
		seen[id] = true
	}
	for id := range acked {
		if !seen[id] {
			t.Fatalf("acknowledged event %d is missing after the failover", id)
		}
	}
	t.Logf("%d events acknowledged (%d publishes answered 503 or cut, retried with their key); the client resumed from %d on %s without gap or duplicate",
		len(acked), refused, from, survivors[0].name)
}
