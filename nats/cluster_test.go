package nats_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/internal/hubsuite"
	"github.com/ssehub/ssehub/internal/hubtest"
	"github.com/ssehub/ssehub/internal/natstest"
	ssenats "github.com/ssehub/ssehub/nats"
)

// cluster is three in-process NATS servers and one hub node on each (its
// store connected to that server only, as with embedded servers; the
// client finds the others through the cluster and fails over to them).
type cluster struct {
	nats  *natstest.Cluster
	nodes []*hubsuite.Node
}

func openClusterStore(t testing.TB, c *natstest.Cluster, i int, stream string) *ssenats.Store {
	t.Helper()
	s, err := ssenats.Open(context.Background(), ssenats.Options{URL: c.ServerURL(i), Stream: stream, SubjectPrefix: strings.ToLower(stream),
		Replicas: 3, ReadyTimeout: 30 * time.Second, PublishTimeout: 3 * time.Second, Logger: natstest.Quiet})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func startCluster(t *testing.T, nodes int) *cluster {
	t.Helper()
	c := &cluster{nats: natstest.Start(t, 3)}
	stores := make([]*ssenats.Store, nodes)
	var wg sync.WaitGroup
	for i := range stores {
		wg.Add(1)
		go func(i int) { defer wg.Done(); stores[i] = openClusterStore(t, c.nats, i, "CL") }(i)
	}
	wg.Wait()
	for _, s := range stores {
		if s == nil {
			t.FailNow()
		}
		n := hubsuite.NewNode(t, s)
		n.WaitReady()
		c.nodes = append(c.nodes, n)
	}
	return c
}

func checkDense(t *testing.T, name string, ids []uint64, from uint64) {
	t.Helper()
	for i, id := range ids {
		if id != from+uint64(i)+1 {
			t.Fatalf("%s: event %d has id %d, want %d (gap or duplicate)", name, i, id, from+uint64(i)+1)
		}
	}
}

// TestCluster runs the cross-node tests on one cluster of three hub nodes
// on an R3 stream (a cluster takes seconds to elect its leaders).
func TestCluster(t *testing.T) {
	c := startCluster(t, 3)
	t.Run("SameIDs", func(t *testing.T) { testClusterSameIDs(t, c) })
	t.Run("Control", func(t *testing.T) { testClusterControl(t, c) })
}

// testClusterSameIDs: events published on node A reach subscribers on B
// and C with identical, dense ids; every node reports the same epoch; a
// subscriber on B resuming with an id it got from C continues exactly
// after it; a token made on A works on C.
func testClusterSameIDs(t *testing.T, c *cluster) {
	a, b, cc := c.nodes[0], c.nodes[1], c.nodes[2]
	if ea, eb, ec := a.Bounds().Epoch, b.Bounds().Epoch, cc.Bounds().Epoch; ea != eb || eb != ec {
		t.Fatalf("epochs differ: %s %s %s", ea, eb, ec)
	}
	sb := b.Subscribe("/events?topic=c.*")
	sc := cc.Subscribe("/events?topic=c.*")
	const singles = 150
	for i := 0; i < singles; i++ {
		a.Publish("c."+strconv.Itoa(i%3), strconv.Itoa(i))
	}
	// One NDJSON batch: one atomic JetStream batch on an R3 stream.
	var nd strings.Builder
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&nd, `{"topic":"c.batch","data":%d}`+"\n", i)
	}
	if status, body := a.Do("POST", "/publish", "application/x-ndjson", nd.String()); status != 200 {
		t.Fatalf("batch: %d %s", status, body)
	}
	const total = singles + 50
	idsB := sb.IDs(t, total, 20*time.Second)
	idsC := sc.IDs(t, total, 20*time.Second)
	if !slices.Equal(idsB, idsC) {
		t.Fatalf("B and C got different ids:\n%v\n%v", idsB, idsC)
	}
	checkDense(t, "B", idsB, 0)
	// Resume on B from the 100th id C delivered.
	from := idsC[99]
	sr := b.Subscribe("/events?topic=c.*", "Last-Event-ID", strconv.FormatUint(from, 10))
	rest := sr.IDs(t, total-100, 20*time.Second)
	checkDense(t, "resumed on B", rest, from)
	// Reads from the store (JSON history pages, which skip the hot tier)
	// make no consumers: the stream keeps one ordered consumer per node.
	for i := 0; i < 20; i++ {
		status, body := b.Do("GET", "/events?topic=c.1&topic=c.batch&limit=5&after="+strconv.Itoa(i*5), "", "", "Accept", "application/json")
		if status != 200 || !strings.Contains(string(body), `"events":[{`) {
			t.Fatalf("history page: %d %s", status, body)
		}
	}
	info, err := a.Store.(*ssenats.Store).StreamInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Consumers > len(c.nodes) {
		t.Fatalf("%d consumers on the stream after 20 resumes, want at most one per node (%d)", info.State.Consumers, len(c.nodes))
	}
	// Shared KV: a token made on A streams from C.
	tok, _ := a.CreateToken(`{"purpose":"stream","topics":["c.*"]}`)
	if _, status, body := cc.TrySubscribe("/events?topic=c.0", tok); status != 200 {
		t.Fatalf("a token made on A, on C: %d %s", status, body)
	}
}

// testClusterControl: revoking a token on node A ends its streams on B
// and C promptly and refuses it there; deregistering a topic on B ends the
// streams on A and C that named it, and C refuses it with 410.
func testClusterControl(t *testing.T, c *cluster) {
	a, b, cc := c.nodes[0], c.nodes[1], c.nodes[2]
	tok, id := a.CreateToken(`{"purpose":"stream"}`)
	s1, st1, body := b.TrySubscribe("/events?topic=x.*", tok)
	if st1 != 200 {
		t.Fatalf("token from A on B: %d %s", st1, body)
	}
	s2, st2, body := cc.TrySubscribe("/events?topic=x.*", tok)
	if st2 != 200 {
		t.Fatalf("token from A on C: %d %s", st2, body)
	}
	start := time.Now()
	if status, body := a.Do("DELETE", "/api/tokens/"+id, "", ""); status != 200 {
		t.Fatalf("revoke: %d %s", status, body)
	}
	hubsuite.ExpectEnd(t, s1, "UNAUTHORIZED", 5*time.Second)
	hubsuite.ExpectEnd(t, s2, "UNAUTHORIZED", 5*time.Second)
	t.Logf("revocation on A ended the streams on B and C in %v", time.Since(start))
	if _, status, _ := cc.TrySubscribe("/events?topic=x.*", tok); status != 401 {
		t.Fatalf("revoked token on C: %d, want 401", status)
	}

	a.Publish("x.gone", "1")
	sa := a.Subscribe("/events?topic=x.gone")
	sc := cc.Subscribe("/events?topic=x.gone")
	if status, body := b.Do("DELETE", "/api/topics/x.gone", "", ""); status != 200 && status != 204 {
		t.Fatalf("deregister on B: %d %s", status, body)
	}
	hubsuite.ExpectEnd(t, sa, "", 5*time.Second)
	hubsuite.ExpectEnd(t, sc, "", 5*time.Second)
	if _, status, _ := cc.TrySubscribe("/events?topic=x.gone", hubtest.AdminToken); status != 410 {
		t.Fatalf("deregistered topic on C: %d, want 410", status)
	}
	if _, status, _ := cc.TryPublish("x.gone", "2", ""); status != 410 {
		t.Fatalf("publish to a deregistered topic on C: %d, want 410", status)
	}
}

// publisher publishes keyed events to nodes in turn until stopped. A 503
// is retried with the same key (so a publish the cluster took before its
// answer was lost is not stored twice); every acknowledged id is kept.
type publisher struct {
	mu       sync.Mutex
	acked    map[uint64]string // id -> data
	refused  int               // 503 answers
	other    []string
	lastOK   time.Time
	maxStall time.Duration // longest time without a successful publish
	killed   time.Time     // when the test killed a node
	firstOK  time.Time     // when the first publish sent after it was acknowledged
}

func (p *publisher) run(t *testing.T, stop <-chan struct{}, nodes func() []*hubsuite.Node) {
	p.acked = map[uint64]string{}
	p.lastOK = time.Now()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		data := "e" + strconv.Itoa(i)
		for try := 0; ; try++ {
			ns := nodes()
			n := ns[(i+try)%len(ns)]
			sent := time.Now()
			id, status, body := n.TryPublish("f.t", data, data)
			now := time.Now()
			p.mu.Lock()
			if status == 200 && p.firstOK.IsZero() && !p.killed.IsZero() && sent.After(p.killed) {
				p.firstOK = now
			}
			if status == 200 {
				if prev, dup := p.acked[id]; dup && prev != data {
					p.mu.Unlock()
					t.Errorf("id %d acknowledged for %s and %s", id, prev, data)
					return
				}
				p.acked[id] = data
				p.maxStall = max(p.maxStall, now.Sub(p.lastOK))
				p.lastOK = now
				p.mu.Unlock()
				break
			}
			if status == 503 {
				p.refused++
			} else {
				p.other = append(p.other, fmt.Sprintf("%d %s", status, body))
			}
			p.mu.Unlock()
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// verify checks that every acknowledged event is in the log with its data
// and that the log holds nothing but them.
func (p *publisher) verify(t *testing.T, s ssehub.Store) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.other) > 0 {
		t.Errorf("publishes refused with a status other than 503: %v", p.other)
	}
	got := map[uint64]string{}
	if err := s.Read(context.Background(), 0, ssehub.MustFilter("f.t"), func(e *ssehub.Event) error {
		got[e.ID] = string(e.Data)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for id, data := range p.acked {
		if got[id] != data {
			t.Errorf("acknowledged event %d (%s) is %q in the log", id, data, got[id])
		}
	}
	seen := map[string]uint64{}
	for id, data := range got {
		if prev, ok := seen[data]; ok {
			t.Errorf("%s stored twice, as %d and %d", data, prev, id)
		}
		seen[data] = id
	}
	t.Logf("%d events acknowledged, %d in the log, %d publishes answered 503 (retried), longest stall %v",
		len(p.acked), len(got), p.refused, p.maxStall)
}

// leaderIndex returns the index of the server leading the stream.
func leaderIndex(t *testing.T, s ssehub.Store) int {
	t.Helper()
	js := s.(*ssenats.Store)
	info, err := js.StreamInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	i, err := strconv.Atoi(strings.TrimPrefix(info.Cluster.Leader, "n"))
	if err != nil {
		t.Fatalf("leader %q", info.Cluster.Leader)
	}
	return i - 1
}

// TestClusterNATSNodeFailure kills the NATS server that leads the stream
// while events are published and streamed. Every acknowledged event
// survives, nothing is stored twice, publishes during the election either
// succeed or get 503, and a subscriber on a surviving node sees every
// event once, in order, without reconnecting; the node whose server died
// fails over to another server and goes on serving.
func TestClusterNATSNodeFailure(t *testing.T) {
	if testing.Short() {
		t.Skip("a leader election takes seconds")
	}
	c := startCluster(t, 3)
	leader := leaderIndex(t, c.nodes[0].Store)
	var survivors []*hubsuite.Node
	for i, n := range c.nodes {
		if i != leader {
			survivors = append(survivors, n)
		}
	}
	sub := survivors[0].Subscribe("/events?topic=f.*")
	var p publisher
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); p.run(t, stop, func() []*hubsuite.Node { return survivors }) }()
	time.Sleep(500 * time.Millisecond)
	p.mu.Lock()
	p.killed = time.Now()
	p.mu.Unlock()
	c.nats.Kill(leader)
	// Wait for the first publish sent after the kill to be acknowledged.
	var failover time.Duration
	for deadline := time.Now().Add(30 * time.Second); ; {
		p.mu.Lock()
		ok := !p.firstOK.IsZero()
		failover = p.firstOK.Sub(p.killed)
		p.mu.Unlock()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no publish succeeded within 30s of the leader's death")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("failover: first acknowledged publish %v after the stream leader's server died", failover)
	time.Sleep(1 * time.Second)
	close(stop)
	<-done
	p.verify(t, survivors[1].Store)
	head := survivors[1].Bounds().Head
	ids := sub.IDs(t, int(head), 30*time.Second)
	checkDense(t, "subscriber on a surviving node", ids, 0)
	// The node whose server died serves again, from another server.
	if err := c.nodes[leader].WaitHead(head, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, status, body := c.nodes[leader].TryPublish("f.t", "after", "after"); status != 200 {
		t.Fatalf("publish on the node whose server died: %d %s", status, body)
	}
}

// TestClusterHubNodeFailure kills a whole hub node (the hub and its NATS
// server, as with an embedded server) while its client streams and others
// publish. The client reconnects to another node with its Last-Event-ID
// and gets every event once, in order.
func TestClusterHubNodeFailure(t *testing.T) {
	if testing.Short() {
		t.Skip("a leader election takes seconds")
	}
	c := startCluster(t, 3)
	victim := leaderIndex(t, c.nodes[0].Store) // the worst case: it leads the stream
	var survivors []*hubsuite.Node
	for i, n := range c.nodes {
		if i != victim {
			survivors = append(survivors, n)
		}
	}
	sub := c.nodes[victim].Subscribe("/events?topic=f.*")
	var p publisher
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); p.run(t, stop, func() []*hubsuite.Node { return survivors }) }()
	var before []uint64
	for len(before) < 50 {
		before = append(before, sub.IDs(t, 1, 10*time.Second)...)
	}
	// Kill the node: its HTTP server, its store, its NATS server.
	n := c.nodes[victim]
	n.API.Shutdown()
	n.Srv.CloseClientConnections()
	n.Srv.Close()
	c.nats.Kill(victim)
	_ = n.Store.Close()
	// The client read what reached it before the cut; then it resumes on
	// a survivor with its last id.
	for {
		ev, err := sub.Raw()
		if err != nil {
			break
		}
		if id, err := strconv.ParseUint(ev.ID, 10, 64); err == nil && ev.Type != "info" && ev.Type != "error" {
			before = append(before, id)
		}
	}
	last := before[len(before)-1]
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	<-done
	p.verify(t, survivors[0].Store)
	head := survivors[0].Bounds().Head
	resumed := survivors[1].Subscribe("/events?topic=f.*", "Last-Event-ID", strconv.FormatUint(last, 10))
	after := resumed.IDs(t, int(head-last), 30*time.Second)
	checkDense(t, "before the cut", before, 0)
	checkDense(t, "after reconnecting to another node", after, last)
}
