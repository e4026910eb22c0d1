package interop_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// The schemas the Arrow interop tests ingest: v2 adds a column.
var (
	interopV1 = arrow.NewSchema([]arrow.Field{
		{Name: "seq", Type: arrow.PrimitiveTypes.Int64},
		{Name: "symbol", Type: arrow.BinaryTypes.String},
		{Name: "price", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	interopV2 = arrow.NewSchema([]arrow.Field{
		{Name: "seq", Type: arrow.PrimitiveTypes.Int64},
		{Name: "symbol", Type: arrow.BinaryTypes.String},
		{Name: "price", Type: arrow.PrimitiveTypes.Float64},
		{Name: "venue", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
)

// arrowBatch is an IPC stream of one batch of n rows of s, seq from first.
func arrowBatch(t *testing.T, s *arrow.Schema, first, n int) []byte {
	t.Helper()
	b := array.NewRecordBuilder(memory.DefaultAllocator, s)
	defer b.Release()
	for i := range n {
		b.Field(0).(*array.Int64Builder).Append(int64(first + i))
		b.Field(1).(*array.StringBuilder).Append([]string{"ABC", "XYZ", "QRS"}[(first+i)%3])
		b.Field(2).(*array.Float64Builder).Append(100 + float64(first+i)/8)
		if s.NumFields() > 3 {
			b.Field(3).(*array.StringBuilder).Append("X")
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(s))
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Ingest posts an IPC body to /ingest/{admin token}?topic= and returns the
// event id.
func (h *hubProc) Ingest(topic string, body []byte) string {
	h.t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Post(h.URL()+"/ingest/"+h.token+"?topic="+topic, "application/vnd.apache.arrow.stream", bytes.NewReader(body))
	if err != nil {
		h.t.Fatalf("ingest %s: %v", topic, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out struct {
		ID   string `json:"id"`
		Rows int    `json:"rows"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(b, &out) != nil || out.ID == "" {
		h.t.Fatalf("ingest %s: %s %s", topic, resp.Status, b)
	}
	return out.ID
}

// StreamToken issues a token of purpose stream for topics.
func (h *hubProc) StreamToken(topics ...string) string {
	h.t.Helper()
	body, _ := json.Marshal(map[string]any{"purpose": "stream", "topics": topics})
	req, _ := http.NewRequest(http.MethodPost, h.URL()+"/api/tokens", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+h.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Token string `json:"token"`
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 201 || json.Unmarshal(b, &out) != nil || out.Token == "" {
		h.t.Fatalf("create token: %s %s", resp.Status, b)
	}
	return out.Token
}

// requireArrowTool is requireTool, failing as well when CI=true.
func requireArrowTool(t *testing.T, what string, candidates ...string) string {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Setenv("SSEHUB_REQUIRE_INTEROP", "1")
	}
	return requireTool(t, what, candidates...)
}

// arrowNodeModules returns interop/node with apache-arrow installed,
// running `npm ci` from the lock file when it is missing.
func arrowNodeModules(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("node")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "apache-arrow", "package.json")); err == nil {
		return dir
	}
	npm := requireArrowTool(t, "npm", "npm")
	cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
	return dir
}

// nodeArrowEvent is a line of node/arrow.mjs.
type nodeArrowEvent struct {
	Type   string   `json:"type"`
	Topic  string   `json:"topic"`
	ID     string   `json:"id"`
	Rows   int      `json:"rows"`
	First  string   `json:"first"`
	Fields []string `json:"fields"`
}

// TestArrowNodeSeedExample runs the seed's Node.js example (the npm
// eventsource package with the seed's listeners, apache-arrow decoding)
// against a real `ssehub serve`: GET /stream/{token} of a stream token
// gets the schema first, decodes every batch alone, gets a fresh schema
// first after a hub restart and then exactly the batches it missed, and a
// schema event before the batch that changes the schema.
func TestArrowNodeSeedExample(t *testing.T) {
	node := requireArrowTool(t, "Node.js", "node")
	dir := arrowNodeModules(t)
	h := startHub(t)
	const topic = "interop.arrow.node"
	var ids []string
	ids = append(ids, h.Ingest(topic, arrowBatch(t, interopV1, 0, 10)))
	token := h.StreamToken(topic)

	const total = 6
	cmd := exec.Command(node, "arrow.mjs", h.URL()+"/stream/"+token, fmt.Sprint(total))
	cmd.Dir = dir
	var mu sync.Mutex
	var got []nodeArrowEvent
	var status []string
	stdout := new(syncBuffer)
	cmd.Stdout = &lineWriter{out: stdout, line: func(s string) {
		var e nodeArrowEvent
		if err := json.Unmarshal([]byte(s), &e); err != nil {
			t.Errorf("node printed %q", s)
			return
		}
		mu.Lock()
		got = append(got, e)
		mu.Unlock()
	}}
	cmd.Stderr = &lineWriter{out: new(syncBuffer), line: func(s string) {
		mu.Lock()
		status = append(status, s)
		mu.Unlock()
	}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("node stdout:\n%s\nstderr: %q", stdout.String(), status)
		}
	})
	events := func() []nodeArrowEvent { mu.Lock(); defer mu.Unlock(); return slices.Clone(got) }
	opens := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, s := range status {
			if s == "open" {
				n++
			}
		}
		return n
	}
	if err := waitFor(20*time.Second, func() bool { return opens() == 1 }); err != nil {
		t.Fatalf("node did not open: %q", status)
	}
	// The stream starts live: the first batch was ingested before it.
	ids = append(ids, h.Ingest(topic, arrowBatch(t, interopV1, 10, 10)), h.Ingest(topic, arrowBatch(t, interopV1, 20, 10)))
	if err := waitFor(15*time.Second, func() bool { return len(events()) >= 3 }); err != nil {
		t.Fatalf("live batches: %+v", events())
	}
	h.Restart()
	ids = append(ids, h.Ingest(topic, arrowBatch(t, interopV1, 30, 10)), h.Ingest(topic, arrowBatch(t, interopV1, 40, 10)))
	if err := waitFor(30*time.Second, func() bool { return opens() == 2 }); err != nil {
		t.Fatalf("node did not reconnect: %q", status)
	}
	ids = append(ids, h.Ingest(topic, arrowBatch(t, interopV2, 50, 10)), h.Ingest(topic, arrowBatch(t, interopV2, 60, 10)))
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Fatalf("node exited with %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("node did not get %d batches: %+v", total, events())
	}

	// schema, b2, b3 | restart | schema, b4, b5, schema(v2), b6, b7
	ev := events()
	var kinds []string
	for _, e := range ev {
		if e.Type != "heartbeat" {
			kinds = append(kinds, e.Type)
		}
	}
	if want := "schema batch batch schema batch batch schema batch batch"; strings.Join(kinds, " ") != want {
		t.Fatalf("events %q, want %q", strings.Join(kinds, " "), want)
	}
	var batchIDs []string
	for i, e := range ev {
		switch e.Type {
		case "schema":
			if e.Topic != topic {
				t.Errorf("schema %d names topic %q", i, e.Topic)
			}
		case "batch":
			batchIDs = append(batchIDs, e.ID)
			n := len(batchIDs) // ids[n] is this batch's (ids[0] came before the stream)
			if e.Rows != 10 || e.First != fmt.Sprint(n*10) {
				t.Errorf("batch %s: %d rows from %s, want 10 from %d", e.ID, e.Rows, e.First, n*10)
			}
			if wantFields := 3 + map[bool]int{true: 1}[n >= 5]; len(e.Fields) != wantFields {
				t.Errorf("batch %s decoded with fields %q", e.ID, e.Fields)
			}
		}
	}
	if !slices.Equal(batchIDs, ids[1:]) {
		t.Fatalf("batch ids %q, want %q (each once, in order)", batchIDs, ids[1:])
	}
}
