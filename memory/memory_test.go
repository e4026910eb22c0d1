package memory_test

import (
	"context"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/internal/logtest"
	"github.com/ssehub/ssehub/memory"
)

func TestConformance(t *testing.T) {
	logtest.Run(t, func(*testing.T) ssehub.Log { return memory.New(memory.Options{}) })
}

func TestRetentionByCountAndBytes(t *testing.T) {
	l := memory.New(memory.Options{Retention: ssehub.Retention{MaxEvents: 10}})
	defer l.Close()
	for i := 0; i < 25; i++ {
		if _, err := l.Append(context.Background(), []*ssehub.Event{{Topic: "r", Data: []byte("x")}}); err != nil {
			t.Fatal(err)
		}
	}
	if first, head := l.Bounds(); first != 16 || head != 25 {
		t.Fatalf("bounds %d, %d", first, head)
	}
	b := memory.New(memory.Options{Retention: ssehub.Retention{MaxBytes: 1000}})
	defer b.Close()
	for i := 0; i < 100; i++ {
		b.Append(context.Background(), []*ssehub.Event{{Topic: "r", Data: make([]byte, 100)}})
	}
	if first, _ := b.Bounds(); first < 90 {
		t.Fatalf("byte retention kept from %d", first)
	}
}

func TestRetentionByAge(t *testing.T) {
	l := memory.New(memory.Options{Retention: ssehub.Retention{MaxAge: 100 * time.Millisecond}})
	defer l.Close()
	l.Append(context.Background(), []*ssehub.Event{{Topic: "r"}, {Topic: "r"}})
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if first, head := l.Bounds(); first == head+1 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("old events were not removed")
}

func TestDefaultBound(t *testing.T) {
	l := memory.New(memory.Options{Retention: ssehub.Retention{MaxEvents: 0}})
	defer l.Close()
	for i := 0; i < 3; i++ {
		l.Append(context.Background(), []*ssehub.Event{{Topic: "r", Data: make([]byte, 100<<20)}})
	}
	if first, _ := l.Bounds(); first < 2 {
		t.Fatalf("300 MB kept in memory: the default %d-byte bound did not apply", memory.DefaultMaxBytes)
	}
}
