package bolt_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/bolt"
)

const crashDirEnv = "SSEHUB_BOLT_CRASH_DIR"

// TestCrashChild is the process TestCrashKeepsAcknowledged kills: it
// appends from 8 goroutines with fsync on and prints "ack ID DATA" for each
// acknowledged event. It does nothing when run on its own.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("only run as the child of TestCrashKeepsAcknowledged")
	}
	l, err := bolt.Open(dir, bolt.Options{})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // never outlive a lost parent
	defer cancel()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				data := fmt.Sprintf("g%d-%d", g, i)
				res, err := l.Append(ctx, []*ssehub.Event{{Topic: "crash", Data: []byte(data)}})
				if err != nil {
					return
				}
				mu.Lock()
				fmt.Fprintf(out, "ack %d %s\n", res[0].ID, data)
				out.Flush() // the parent counts an id only once it is printed
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	os.Exit(0)
}

// TestCrashKeepsAcknowledged: SIGKILL a process that appends with fsync on;
// every event it acknowledged is in the file afterwards, byte for byte, and
// new ids are greater than all of them.
func TestCrashKeepsAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[uint64]string{}
	var mu sync.Mutex
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		r := bufio.NewReader(stdout)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return // a line cut short by the kill was never fully printed: not counted
			}
			f := strings.Fields(line)
			if len(f) != 3 || f[0] != "ack" {
				continue
			}
			id, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				continue
			}
			mu.Lock()
			acked[id] = f[2]
			mu.Unlock()
		}
	}()
	time.Sleep(time.Second)
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	cmd.Wait()
	<-readDone
	if len(acked) < 10 {
		t.Fatalf("the child acknowledged only %d events in a second", len(acked))
	}

	l := open(t, dir, bolt.Options{})
	defer l.Close()
	stored := map[uint64]string{}
	if err := l.Read(context.Background(), 0, ssehub.All(), func(e *ssehub.Event) error {
		stored[e.ID] = string(e.Data)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var maxID uint64
	for id, data := range acked {
		if got, ok := stored[id]; !ok || got != data {
			t.Fatalf("acknowledged event %d (%s) after the crash: %q, present %v", id, data, got, ok)
		}
		maxID = max(maxID, id)
	}
	res, err := l.Append(context.Background(), []*ssehub.Event{{Topic: "crash", Data: []byte("after")}})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].ID <= maxID {
		t.Fatalf("new id %d not above the acknowledged %d", res[0].ID, maxID)
	}
	t.Logf("%d acknowledged, %d stored, next id %d", len(acked), len(stored), res[0].ID)
}
