package interop_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	hubStartTimeout = 30 * time.Second // a -race binary opening bolt starts in well under a second
	hubStopTimeout  = 20 * time.Second // the hub's own shutdown grace is 10 s
	listeningPrefix = "ssehub listening on "
)

// hubProc is a real `ssehub serve` process with a bolt data directory in a
// temporary folder. Restart stops it with SIGTERM and starts it again on the
// same address with the same data, which makes connected clients reconnect.
type hubProc struct {
	t       *testing.T
	dataDir string
	extra   []string // more serve arguments, such as --config FILE
	token   string   // admin token, passed as SSEHUB_ADMIN_TOKEN
	addr    string   // 127.0.0.1:PORT once the first start chose the port
	logs    *syncBuffer

	run *hubRun // the running process, nil when stopped
}

// hubRun is one start of the process.
type hubRun struct {
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	waitErr error         // valid after done
}

// startHub starts `ssehub serve --addr 127.0.0.1:0 --data <temp>` plus extra
// arguments, and stops it (or kills it) when the test ends.
func startHub(t *testing.T, extra ...string) *hubProc {
	t.Helper()
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		t.Fatal(err)
	}
	h := &hubProc{
		t:       t,
		dataDir: filepath.Join(t.TempDir(), "data"),
		extra:   extra,
		token:   hex.EncodeToString(raw[:]),
		logs:    new(syncBuffer),
	}
	t.Cleanup(func() {
		if h.run != nil {
			_ = h.run.cmd.Process.Kill()
			<-h.run.done
			h.run = nil
		}
		if t.Failed() {
			t.Logf("ssehub output:\n%s", h.logs.String())
		}
	})
	if err := h.start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	return h
}

// URL is the hub's base URL, such as http://127.0.0.1:41234.
func (h *hubProc) URL() string { return "http://" + h.addr }

// start runs the process on addr and waits for its "listening" line.
func (h *hubProc) start(addr string) error {
	args := append([]string{"serve", "--addr", addr, "--data", h.dataDir}, h.extra...)
	cmd := exec.Command(hubBinary, args...)
	cmd.Env = append(os.Environ(), "SSEHUB_ADMIN_TOKEN="+h.token)
	listening := make(chan string, 1)
	fmt.Fprintf(h.logs, "--- ssehub %s\n", strings.Join(args, " "))
	cmd.Stdout = &lineWriter{out: h.logs, line: func(s string) {
		if rest, ok := strings.CutPrefix(s, listeningPrefix); ok {
			select {
			case listening <- rest:
			default:
			}
		}
	}}
	cmd.Stderr = h.logs
	// The kernel kills the hub if the thread that started it exits, so a
	// crashed test binary leaves no hub behind. That thread must therefore
	// live as long as the process: the goroutine locks it until Wait returns.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	r := &hubRun{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		r.waitErr = cmd.Wait()
		close(r.done)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("start ssehub: %w", err)
	}
	select {
	case line := <-listening:
		base, _, _ := strings.Cut(line, " ")
		u, err := url.Parse(base)
		if err != nil || u.Host == "" {
			_ = cmd.Process.Kill()
			<-r.done
			return fmt.Errorf("cannot parse the address in %q", listeningPrefix+line)
		}
		h.addr = u.Host
		h.run = r
		return nil
	case <-r.done:
		return fmt.Errorf("ssehub exited before listening (%v):\n%s", r.waitErr, h.logs.String())
	case <-time.After(hubStartTimeout):
		_ = cmd.Process.Kill()
		<-r.done
		return fmt.Errorf("ssehub did not print %q within %v:\n%s", listeningPrefix, hubStartTimeout, h.logs.String())
	}
}

// Stop sends SIGTERM and waits for a clean exit (status 0).
func (h *hubProc) Stop() {
	h.t.Helper()
	r := h.run
	if r == nil {
		h.t.Fatal("hub is not running")
	}
	h.run = nil
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		h.t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-r.done:
	case <-time.After(hubStopTimeout):
		_ = r.cmd.Process.Kill()
		<-r.done
		h.t.Fatalf("ssehub did not exit within %v of SIGTERM", hubStopTimeout)
	}
	if r.waitErr != nil {
		h.t.Fatalf("ssehub did not exit cleanly after SIGTERM: %v", r.waitErr)
	}
}

// Restart stops the hub with SIGTERM and starts it again on the same address
// with the same data directory.
func (h *hubProc) Restart() {
	h.t.Helper()
	h.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := h.start(h.addr)
		if err == nil {
			return
		}
		// The port can stay busy for a moment after the old process exits.
		if time.Now().After(deadline) || !strings.Contains(err.Error(), "address already in use") {
			h.t.Fatalf("restart on %s: %v", h.addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Publish posts data to topic with event type typ ("" for the default) and
// returns the id the hub assigned.
func (h *hubProc) Publish(topic, typ, data string) string {
	h.t.Helper()
	u := h.URL() + "/publish/" + url.PathEscape(topic)
	if typ != "" {
		u += "?type=" + url.QueryEscape(typ)
	}
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(data))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+h.token)
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		h.t.Fatalf("publish %s: %v", topic, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		h.t.Fatalf("publish %s: %s: %s", topic, resp.Status, body)
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.ID == "" {
		h.t.Fatalf("publish %s: unexpected reply %q (%v)", topic, body, err)
	}
	return out.ID
}

// published is one event the test published, as a client should see it.
type published struct {
	Type        string `json:"type"`
	Data        string `json:"data"`
	LastEventID string `json:"lastEventId"`
}

// checkReceived asserts that got is exactly want: every event once, in order.
func checkReceived(t *testing.T, got, want []published) {
	t.Helper()
	seen := map[string]int{}
	for _, e := range got {
		seen[e.LastEventID]++
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("event id %s received %d times", id, n)
		}
	}
	if len(got) != len(want) {
		t.Errorf("received %d events, want %d", len(got), len(want))
	}
	for i := 0; i < len(got) && i < len(want); i++ {
		if got[i] != want[i] {
			t.Errorf("event %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers and readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lineWriter copies to out and calls line for every complete line written.
type lineWriter struct {
	out     io.Writer
	line    func(string)
	mu      sync.Mutex
	partial []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.out.Write(p); err != nil {
		return 0, err
	}
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.line(strings.TrimRight(string(w.partial[:i]), "\r"))
		w.partial = w.partial[i+1:]
	}
	return len(p), nil
}

// requireTool returns the path of the first candidate that exists. When none
// does, the test is skipped — or fails when SSEHUB_REQUIRE_INTEROP=1 (CI).
func requireTool(t *testing.T, what string, candidates ...string) string {
	t.Helper()
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	msg := fmt.Sprintf("%s not found (looked for %s); install it to run this interop test (.ci/run does)",
		what, strings.Join(candidates, ", "))
	if os.Getenv("SSEHUB_REQUIRE_INTEROP") == "1" {
		t.Fatal(msg + "; failing because SSEHUB_REQUIRE_INTEROP=1")
	}
	t.Skip(msg)
	return ""
}

// waitFor polls cond every 50 ms until it is true or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}
