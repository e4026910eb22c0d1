package bolt_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/bolt"
	"github.com/ssehub/ssehub/internal/logtest"
)

var bg = context.Background()

func open(t testing.TB, dir string, o bolt.Options) *bolt.Log {
	t.Helper()
	l, err := bolt.Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func pos(t testing.TB, l *bolt.Log) ssehub.Position {
	t.Helper()
	p, err := l.Bounds(bg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// conformance runs logtest with options o; the store reopens on its
// directory with the options it was opened with.
func conformance(t *testing.T, o bolt.Options) {
	var mu sync.Mutex
	opened := map[ssehub.Store]bolt.Options{}
	openWith := func(t *testing.T, dir string, o bolt.Options) ssehub.Store {
		l := open(t, dir, o)
		mu.Lock()
		opened[l] = o
		mu.Unlock()
		return l
	}
	logtest.Run(t, logtest.Config{
		Open: func(t *testing.T) ssehub.Store { return openWith(t, t.TempDir(), o) },
		OpenRetention: func(t *testing.T, r ssehub.Retention) ssehub.Store {
			o := o
			o.Retention = r
			return openWith(t, t.TempDir(), o)
		},
		Reopen: func(t *testing.T, s ssehub.Store) ssehub.Store {
			l := s.(*bolt.Log)
			mu.Lock()
			o := opened[s]
			mu.Unlock()
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			return openWith(t, l.Dir(), o)
		},
	})
}

func TestConformance(t *testing.T) { conformance(t, bolt.Options{NoSync: true}) }

func TestConformanceDurable(t *testing.T) {
	if testing.Short() {
		t.Skip("fsync on every commit")
	}
	conformance(t, bolt.Options{})
}

func appendN(t testing.TB, l *bolt.Log, topic string, n int, key string) []ssehub.AppendResult {
	t.Helper()
	evs := make([]*ssehub.Event, n)
	for i := range evs {
		evs[i] = &ssehub.Event{Topic: topic, Key: key, Data: []byte("data")}
	}
	res, err := l.Append(bg, evs)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestReopen: events, KV, dedupe keys, the epoch and the id sequence
// survive a restart, also when retention removed every event.
func TestReopen(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, bolt.Options{})
	appendN(t, l, "a", 5, "")
	keyed := appendN(t, l, "a", 1, "idem")
	l.Put(bg, "tokens", "t1", []byte("v"))
	epoch := pos(t, l).Epoch
	l.Close()

	l = open(t, dir, bolt.Options{})
	if p := pos(t, l); p.First != 1 || p.Head != 6 || p.Epoch != epoch {
		t.Fatalf("position after reopen %+v, epoch was %q", p, epoch)
	}
	var got []string
	l.Read(bg, 0, ssehub.All(), func(e *ssehub.Event) error {
		got = append(got, fmt.Sprintf("%d:%s:%s:%s", e.ID, e.Topic, e.Key, e.Data))
		return nil
	})
	if fmt.Sprint(got) != "[1:a::data 2:a::data 3:a::data 4:a::data 5:a::data 6:a:idem:data]" {
		t.Fatalf("events after reopen: %v", got)
	}
	if v, err := l.Get(bg, "tokens", "t1"); err != nil || string(v) != "v" {
		t.Fatalf("kv after reopen: %q %v", v, err)
	}
	if r := appendN(t, l, "a", 1, "idem"); !r[0].Duplicate || r[0].ID != keyed[0].ID {
		t.Fatalf("dedupe after reopen: %+v", r)
	}
	if r := appendN(t, l, "a", 1, ""); r[0].ID != 7 {
		t.Fatalf("next id %d", r[0].ID)
	}
	l.Close()

	// Retention removes everything; ids still continue.
	l = open(t, dir, bolt.Options{Retention: ssehub.Retention{MaxAge: time.Nanosecond}})
	deadline := time.Now().Add(5 * time.Second)
	for pos(t, l).First != pos(t, l).Head+1 {
		if time.Now().After(deadline) {
			t.Fatal("age retention did not run")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if infos, _ := l.Topics(bg, "", 0); len(infos) != 0 {
		t.Fatalf("topics after retention: %+v (a topic with no retained event is pruned)", infos)
	}
	l.Close()
	l = open(t, dir, bolt.Options{})
	defer l.Close()
	if p := pos(t, l); p.First != 8 || p.Head != 7 || p.Epoch != epoch {
		t.Fatalf("position of an emptied log %+v", p)
	}
	if r := appendN(t, l, "a", 1, ""); r[0].ID != 8 {
		t.Fatalf("id after an emptied log: %d", r[0].ID)
	}
}

func TestBatchLimit(t *testing.T) {
	l := open(t, t.TempDir(), bolt.Options{NoSync: true, MaxBatch: 10})
	defer l.Close()
	evs := make([]*ssehub.Event, 11)
	for i := range evs {
		evs[i] = &ssehub.Event{Topic: "x"}
	}
	if _, err := l.Append(bg, evs); !errors.Is(err, ssehub.ErrTooLarge) {
		t.Fatalf("an 11-event batch under a limit of 10: %v", err)
	}
	if c := l.Capabilities(); c.MaxBatch != 10 || !c.DenseIDs {
		t.Fatalf("capabilities %+v", c)
	}
	l2 := open(t, t.TempDir(), bolt.Options{NoSync: true, Retention: ssehub.Retention{MaxEvents: 100}})
	defer l2.Close()
	if c := l2.Capabilities(); c.MaxBatch != 100 {
		t.Fatalf("MaxBatch %d is not lowered to MaxEvents", c.MaxBatch)
	}
}

// TestPoisonedRequestFailsAlone is the regression test of "one tenant's bad
// publish fails everyone's": 64 concurrent appends, one of them with a
// 40,000-byte idempotency key (past bbolt's key limit), one with a topic
// past it, one of an empty topic. Before the fix they shared a group
// commit, bbolt refused the key and every append of the group failed.
func TestPoisonedRequestFailsAlone(t *testing.T) {
	l := open(t, t.TempDir(), bolt.Options{NoSync: true})
	defer l.Close()
	poison := map[int]*ssehub.Event{
		7:  {Topic: "tenant.7", Key: strings.Repeat("k", 40_000), Data: []byte("bad")},
		21: {Topic: strings.Repeat("t", 40_000), Data: []byte("bad")},
		40: {Topic: "", Data: []byte("bad")},
	}
	for round := 0; round < 20; round++ {
		var wg sync.WaitGroup
		errs := make([]error, 64)
		start := make(chan struct{})
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e := &ssehub.Event{Topic: fmt.Sprint("tenant.", i), Key: fmt.Sprint(round, "-", i), Data: []byte("ok")}
				if p := poison[i]; p != nil {
					c := *p
					e = &c
				}
				<-start
				_, errs[i] = l.Append(bg, []*ssehub.Event{e})
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			switch {
			case i == 7 || i == 21:
				if !errors.Is(err, ssehub.ErrTooLarge) {
					t.Fatalf("round %d: the poisoned append %d: %v, want ErrTooLarge", round, i, err)
				}
				if i == 7 && !strings.Contains(err.Error(), "idempotency key") || i == 21 && !strings.Contains(err.Error(), "topic") {
					t.Fatalf("the error does not name the field: %v", err)
				}
			case i == 40:
				if !errors.Is(err, ssehub.ErrInvalidTopic) {
					t.Fatalf("round %d: the empty topic: %v", round, err)
				}
			case err != nil:
				t.Fatalf("round %d: append %d failed with the poisoned one: %v", round, i, err)
			}
		}
	}
	if p := pos(t, l); p.Head != 20*61 {
		t.Fatalf("head %d, want %d", p.Head, 20*61)
	}
}

// TestOpenTimeoutWhileLocked is the regression test of "a second serve on
// a held data dir hangs silently": a second open in the same process fails
// within its timeout, naming the directory and this process.
func TestOpenTimeoutWhileLocked(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, bolt.Options{})
	defer l.Close()
	start := time.Now()
	_, err := bolt.Open(dir, bolt.Options{OpenTimeout: 300 * time.Millisecond})
	took := time.Since(start)
	if !errors.Is(err, bolt.ErrLocked) || took > 2*time.Second {
		t.Fatalf("a second open of a locked store: %v after %v", err, took)
	}
	if !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), fmt.Sprint("pid ", os.Getpid())) {
		t.Fatalf("the error names neither the directory nor the holder: %v", err)
	}
	t.Log(err)
	// The default timeout is a few seconds, not forever.
	start = time.Now()
	if _, err := bolt.Open(dir, bolt.Options{}); !errors.Is(err, bolt.ErrLocked) || time.Since(start) > bolt.DefaultOpenTimeout+2*time.Second {
		t.Fatalf("default timeout: %v after %v", err, time.Since(start))
	}
}

// TestOpenCanceled: an open waiting for the lock returns when its context
// ends (Ctrl-C), not at the timeout.
func TestOpenCanceled(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, bolt.Options{})
	defer l.Close()
	ctx, cancel := context.WithCancel(bg)
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := bolt.OpenContext(ctx, dir, bolt.Options{OpenTimeout: -1})
	if !errors.Is(err, context.Canceled) || time.Since(start) > 2*time.Second {
		t.Fatalf("open after cancel: %v after %v", err, time.Since(start))
	}
}

const lockDirEnv = "SSEHUB_BOLT_LOCK_DIR"

// TestLockHolderChild holds a store open for TestOpenNamesOtherProcess.
func TestLockHolderChild(t *testing.T) {
	dir := os.Getenv(lockDirEnv)
	if dir == "" {
		t.Skip("only run as the child of TestOpenNamesOtherProcess")
	}
	l, err := bolt.Open(dir, bolt.Options{NoSync: true})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	fmt.Println("ready")
	// Until the parent closes stdin (or 30 s, never outliving a lost parent).
	done := make(chan struct{})
	go func() { bufio.NewReader(os.Stdin).ReadString('\n'); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
	}
	l.Close()
	os.Exit(0)
}

// TestOpenNamesOtherProcess: the error names the pid and command line of
// the process that holds the directory.
func TestOpenNamesOtherProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHolderChild$")
	cmd.Env = append(os.Environ(), lockDirEnv+"="+dir)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); line != "ready\n" {
		t.Fatalf("child: %q", line)
	}
	_, err := bolt.Open(dir, bolt.Options{OpenTimeout: 200 * time.Millisecond})
	if !errors.Is(err, bolt.ErrLocked) {
		t.Fatalf("open of a directory another process holds: %v", err)
	}
	if _, statErr := os.Stat("/proc/locks"); statErr == nil {
		if !strings.Contains(err.Error(), fmt.Sprint("pid ", cmd.Process.Pid)) || !strings.Contains(err.Error(), "TestLockHolderChild") {
			t.Fatalf("the error does not name the holder (pid %d): %v", cmd.Process.Pid, err)
		}
	}
	t.Log(err)
}

// TestEpochForOldFile: a file without an epoch gets one on its first open
// and keeps it.
func TestEpochStored(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, bolt.Options{NoSync: true})
	e := pos(t, l).Epoch
	l.Close()
	l = open(t, dir, bolt.Options{NoSync: true})
	defer l.Close()
	if pos(t, l).Epoch != e || len(e) != 12 {
		t.Fatalf("epoch %q, then %q", e, pos(t, l).Epoch)
	}
}

// TestDriver: the package registers "bolt", reads its settings and
// describes itself.
func TestDriver(t *testing.T) {
	d, ok := ssehub.LookupDriver("bolt")
	if !ok {
		t.Fatal("bolt driver not registered")
	}
	dir := t.TempDir()
	cfg := ssehub.StoreConfig{Path: dir, Settings: func(v any) error {
		s := v.(*bolt.Settings)
		s.MaxBatch, s.NoSync = 7, true
		return nil
	}}
	if err := d.Validate(cfg); err != nil {
		t.Fatal(err)
	}
	if got := d.Describe(cfg); got != "bolt at "+dir {
		t.Fatalf("describe %q", got)
	}
	s, err := ssehub.OpenStore(bg, "bolt", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if c := s.Capabilities(); c.MaxBatch != 7 {
		t.Fatalf("max_batch was not applied: %+v", c)
	}
	if err := d.Validate(ssehub.StoreConfig{}); err == nil {
		t.Fatal("a bolt store without a path validated")
	}
	bad := ssehub.StoreConfig{Path: dir, Settings: func(any) error { return errors.New(`unknown field "nosync"`) }}
	if err := d.Validate(bad); err == nil || !strings.Contains(err.Error(), "storage.bolt") {
		t.Fatalf("a bad section: %v", err)
	}
}
