package pebble_test

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
	"github.com/ssehub/ssehub/pebble"
)

const crashDirEnv = "SSEHUB_PEBBLE_CRASH_DIR"

// TestCrashChild is the process TestCrashKeepsAcknowledged kills: it
// appends from 8 goroutines (single events and batches of 10) with fsync
// on, and prints "ack ID DATA" for each acknowledged event. It does
// nothing when run on its own.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("only run as the child of TestCrashKeepsAcknowledged")
	}
	l, err := pebble.Open(dir, pebble.Options{})
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
			n := 1
			if g%2 == 1 {
				n = 10
			}
			for i := 0; ctx.Err() == nil; i++ {
				evs := make([]*ssehub.Event, n)
				for j := range evs {
					evs[j] = &ssehub.Event{Topic: fmt.Sprint("crash.", g), Data: []byte(fmt.Sprintf("g%d-%d-%d", g, i, j))}
				}
				res, err := l.Append(ctx, evs)
				if err != nil {
					return
				}
				mu.Lock()
				for j, r := range res {
					fmt.Fprintf(out, "ack %d %s\n", r.ID, evs[j].Data)
				}
				out.Flush() // the parent counts an id only once it is printed
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	os.Exit(0)
}

// TestCrashKeepsAcknowledged: SIGKILL a process that appends with fsync
// on; every event it acknowledged is in the store afterwards, byte for
// byte, the topic counts add up, and new ids are greater than all of them.
// Three rounds on the same directory, so a recovered WAL is crashed again.
func TestCrashKeepsAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	dir := t.TempDir()
	acked := map[uint64]string{}
	for round := 0; round < 3; round++ {
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
		var mu sync.Mutex
		readDone := make(chan struct{})
		n := 0
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
				n++
				mu.Unlock()
			}
		}()
		time.Sleep(time.Second)
		if err := cmd.Process.Kill(); err != nil { // SIGKILL
			t.Fatal(err)
		}
		cmd.Wait()
		<-readDone
		if n < 10 {
			t.Fatalf("round %d: the child acknowledged only %d events in a second", round, n)
		}
		l := open(t, dir, pebble.Options{})
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
				t.Fatalf("round %d: acknowledged event %d (%s) after the crash: %q, present %v", round, id, data, got, ok)
			}
			maxID = max(maxID, id)
		}
		infos, err := l.Topics(bg, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		var sum int64
		for _, ti := range infos {
			sum += ti.Events
		}
		if p := pos(t, l); sum != int64(len(stored)) || p.Head != uint64(len(stored)) || l.StoreStats().Events != sum {
			t.Fatalf("round %d: topics count %d, %d stored, position %+v, stats %+v", round, sum, len(stored), p, l.StoreStats())
		}
		res, err := l.Append(context.Background(), []*ssehub.Event{{Topic: "crash", Data: []byte("after")}})
		if err != nil {
			t.Fatal(err)
		}
		if res[0].ID <= maxID {
			t.Fatalf("new id %d not above the acknowledged %d", res[0].ID, maxID)
		}
		acked[res[0].ID] = "after"
		t.Logf("round %d: %d acknowledged in all, %d stored, next id %d", round, len(acked), len(stored), res[0].ID)
		l.Close()
	}
}
