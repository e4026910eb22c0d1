package memory_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/internal/logtest"
	"github.com/ssehub/ssehub/memory"
)

func TestConformance(t *testing.T) {
	logtest.Run(t, func(*testing.T) ssehub.Log { return memory.New(memory.Options{}) })
}

func appendOne(t *testing.T, l *memory.Log, topic string, data []byte) uint64 {
	t.Helper()
	res, err := l.Append(context.Background(), []*ssehub.Event{{Topic: topic, Data: data}})
	if err != nil {
		t.Fatal(err)
	}
	return res[0].ID
}

// ids reads every retained event's id.
func ids(t *testing.T, l ssehub.Log) []uint64 {
	t.Helper()
	var out []uint64
	if err := l.Read(context.Background(), 0, nil, func(e *ssehub.Event) error { out = append(out, e.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// followFirst returns the first id Follow from 0 delivers.
func followFirst(t *testing.T, l ssehub.Log) uint64 {
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
	l := memory.New(memory.Options{Retention: ssehub.Retention{MaxEvents: 10}})
	defer l.Close()
	for i := 0; i < 25; i++ {
		topic := "a"
		if i%5 == 0 {
			topic = "b" // ids 1, 6, 11, 16, 21
		}
		appendOne(t, l, topic, []byte("x"))
	}
	if first, head := l.Bounds(); first != 16 || head != 25 {
		t.Fatalf("bounds %d, %d", first, head)
	}
	if got := ids(t, l); len(got) != 10 || got[0] != 16 || got[9] != 25 {
		t.Fatalf("read after retention: %v", got)
	}
	infos, _ := l.Topics(context.Background())
	if fmt.Sprint(infos) != "[{a 8 25} {b 2 21}]" {
		t.Fatalf("topics after retention: %v", infos)
	}
	if id := followFirst(t, l); id != 16 {
		t.Fatalf("follow from 0 began at %d", id)
	}
}

func TestRetentionByBytes(t *testing.T) {
	l := memory.New(memory.Options{Retention: ssehub.Retention{MaxBytes: 1000}})
	defer l.Close()
	for i := 0; i < 100; i++ {
		appendOne(t, l, "r", make([]byte, 100))
	}
	// Each event is 64+1+100 = 165 bytes: 6 fit in 1000.
	if first, head := l.Bounds(); first != 95 || head != 100 {
		t.Fatalf("bounds %d, %d", first, head)
	}
	if got := ids(t, l); len(got) != 6 {
		t.Fatalf("read %v", got)
	}
	if id := followFirst(t, l); id != 95 {
		t.Fatalf("follow from 0 began at %d", id)
	}
}

func TestRetentionByAge(t *testing.T) {
	l := memory.New(memory.Options{Retention: ssehub.Retention{MaxAge: 100 * time.Millisecond}})
	defer l.Close()
	if _, err := l.Append(context.Background(), []*ssehub.Event{{Topic: "r"}, {Topic: "r"}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if first, head := l.Bounds(); first == 3 && head == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("old events were not removed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if infos, _ := l.Topics(context.Background()); len(infos) != 1 || infos[0].Events != 0 || infos[0].LastID != 2 {
		t.Fatalf("topics after age retention: %+v", infos)
	}
	if got := ids(t, l); len(got) != 0 {
		t.Fatalf("read %v", got)
	}
	if id := appendOne(t, l, "r", nil); id != 3 {
		t.Fatalf("next id %d", id)
	}
	if id := followFirst(t, l); id != 3 {
		t.Fatalf("follow from 0 began at %d", id)
	}
}

// TestDefaultBound: with no retention the log still stops at
// DefaultMaxBytes. The size sits in Entity, a string the log does not copy,
// so the test moves no 300 MB around.
func TestDefaultBound(t *testing.T) {
	l := memory.New(memory.Options{})
	defer l.Close()
	big := strings.Repeat("e", 100<<20)
	for i := 0; i < 3; i++ {
		if _, err := l.Append(context.Background(), []*ssehub.Event{{Topic: "r", Entity: big}}); err != nil {
			t.Fatal(err)
		}
	}
	if first, head := l.Bounds(); first != 2 || head != 3 {
		t.Fatalf("bounds %d, %d: the default %d-byte bound did not apply", first, head, memory.DefaultMaxBytes)
	}
}

// TestDedupeWindowExpires: after the window a key is new again.
func TestDedupeWindowExpires(t *testing.T) {
	l := memory.New(memory.Options{DedupeWindow: 50 * time.Millisecond})
	defer l.Close()
	ev := func() []*ssehub.Event { return []*ssehub.Event{{Topic: "d", Key: "k"}} }
	r1, _ := l.Append(context.Background(), ev())
	r2, _ := l.Append(context.Background(), ev())
	if !r2[0].Duplicate || r2[0].ID != r1[0].ID {
		t.Fatalf("inside the window: %+v", r2)
	}
	time.Sleep(100 * time.Millisecond)
	r3, _ := l.Append(context.Background(), ev())
	if r3[0].Duplicate || r3[0].ID != 2 {
		t.Fatalf("after the window: %+v", r3)
	}
}

// TestCloseStopsGoroutines: the janitor ends with Close.
func TestCloseStopsGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	for i := 0; i < 10; i++ {
		memory.New(memory.Options{}).Close()
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines before, %d after closing", before, runtime.NumGoroutine())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func Example() {
	l := memory.New(memory.Options{Retention: ssehub.Retention{MaxEvents: 1000}})
	defer l.Close()
	res, _ := l.Append(context.Background(), []*ssehub.Event{{Topic: "orders.created", Data: []byte(`{"id":1}`)}})
	fmt.Println("id", res[0].ID)
	l.Read(context.Background(), 0, ssehub.MustPattern("orders.*"), func(e *ssehub.Event) error {
		fmt.Println(e.Topic, string(e.Data))
		return nil
	})
	// Output:
	// id 1
	// orders.created {"id":1}
}
