package bolt_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/bolt"
)

// waitBounds polls (the janitor runs each second) until Bounds is want.
func waitBounds(t *testing.T, l *bolt.Log, first, head uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		f, h := l.Bounds()
		if f == first && h == head {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("bounds %d, %d; want %d, %d", f, h, first, head)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func readIDs(t *testing.T, l *bolt.Log) []uint64 {
	t.Helper()
	var out []uint64
	if err := l.Read(context.Background(), 0, nil, func(e *ssehub.Event) error { out = append(out, e.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func followFirst(t *testing.T, l *bolt.Log) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var first uint64
	stop := errors.New("stop")
	if err := l.Follow(ctx, 0, func(e *ssehub.Event) error { first = e.ID; return stop }); !errors.Is(err, stop) {
		t.Fatalf("follow: %v", err)
	}
	return first
}

func TestRetentionByCount(t *testing.T) {
	l := open(t, t.TempDir(), bolt.Options{NoSync: true, Retention: ssehub.Retention{MaxEvents: 100}})
	defer l.Close()
	for i := 0; i < 10; i++ {
		appendN(t, l, "c", 90, "")
		appendN(t, l, "d", 10, "")
	}
	waitBounds(t, l, 901, 1000)
	if got := readIDs(t, l); len(got) != 100 || got[0] != 901 {
		t.Fatalf("read %d events from %v", len(got), got[:1])
	}
	infos, _ := l.Topics(context.Background())
	if fmt.Sprint(infos) != "[{c 90 990} {d 10 1000}]" {
		t.Fatalf("topics after retention: %v", infos)
	}
	if id := followFirst(t, l); id != 901 {
		t.Fatalf("follow from 0 began at %d", id)
	}
}

// TestRetentionByBytes: the byte total matches Event.Size exactly, so the
// bound keeps exactly as many events as fit.
func TestRetentionByBytes(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, bolt.Options{NoSync: true, Retention: ssehub.Retention{MaxBytes: 1000}})
	for i := 0; i < 100; i++ {
		l.Append(context.Background(), []*ssehub.Event{{Topic: "r", Data: make([]byte, 100)}})
	}
	// Each event is 64+1+100 = 165 bytes: 6 fit in 1000.
	waitBounds(t, l, 95, 100)
	if got := readIDs(t, l); len(got) != 6 {
		t.Fatalf("read %v", got)
	}
	l.Close()
	// The total is stored: after a reopen one more event pushes one out.
	l = open(t, dir, bolt.Options{NoSync: true, Retention: ssehub.Retention{MaxBytes: 1000}})
	defer l.Close()
	l.Append(context.Background(), []*ssehub.Event{{Topic: "r", Data: make([]byte, 100)}})
	waitBounds(t, l, 96, 101)
}

func TestRetentionByAge(t *testing.T) {
	l := open(t, t.TempDir(), bolt.Options{NoSync: true, Retention: ssehub.Retention{MaxAge: 100 * time.Millisecond}})
	defer l.Close()
	appendN(t, l, "a", 3, "")
	appendN(t, l, "b", 2, "")
	waitBounds(t, l, 6, 5)
	infos, _ := l.Topics(context.Background())
	if fmt.Sprint(infos) != "[{a 0 3} {b 0 5}]" {
		t.Fatalf("topics after age retention: %v", infos)
	}
	if got := readIDs(t, l); len(got) != 0 {
		t.Fatalf("read %v", got)
	}
	if r := appendN(t, l, "a", 1, ""); r[0].ID != 6 {
		t.Fatalf("next id %d", r[0].ID)
	}
	if id := followFirst(t, l); id != 6 {
		t.Fatalf("follow from 0 began at %d", id)
	}
}

// TestDedupeWindowExpires: after the window a key stores a new event.
func TestDedupeWindowExpires(t *testing.T) {
	l := open(t, t.TempDir(), bolt.Options{NoSync: true, DedupeWindow: 50 * time.Millisecond})
	defer l.Close()
	r1 := appendN(t, l, "d", 1, "k")
	if r2 := appendN(t, l, "d", 1, "k"); !r2[0].Duplicate || r2[0].ID != r1[0].ID {
		t.Fatalf("inside the window: %+v", r2)
	}
	time.Sleep(100 * time.Millisecond)
	if r3 := appendN(t, l, "d", 1, "k"); r3[0].Duplicate || r3[0].ID != 2 {
		t.Fatalf("after the window: %+v", r3)
	}
}

// TestCloseStopsGoroutines: the writer and the janitor end with Close.
func TestCloseStopsGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	for i := 0; i < 5; i++ {
		l := open(t, t.TempDir(), bolt.Options{NoSync: true})
		appendN(t, l, "g", 1, "")
		l.Close()
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines before, %d after closing", before, runtime.NumGoroutine())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
