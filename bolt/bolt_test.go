package bolt_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/bolt"
	"github.com/ssehub/ssehub/internal/logtest"
)

func open(t *testing.T, dir string, o bolt.Options) *bolt.Log {
	t.Helper()
	l, err := bolt.Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestConformance(t *testing.T) {
	logtest.Run(t, func(t *testing.T) ssehub.Log { return open(t, t.TempDir(), bolt.Options{NoSync: true}) })
}

func TestConformanceDurable(t *testing.T) {
	logtest.Run(t, func(t *testing.T) ssehub.Log { return open(t, t.TempDir(), bolt.Options{}) })
}

func appendN(t *testing.T, l *bolt.Log, topic string, n int, key string) []ssehub.AppendResult {
	t.Helper()
	evs := make([]*ssehub.Event, n)
	for i := range evs {
		evs[i] = &ssehub.Event{Topic: topic, Key: key, Data: []byte("data")}
	}
	res, err := l.Append(context.Background(), evs)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestReopen: events, KV, dedupe keys and the id sequence survive a
// restart, also when retention removed every event.
func TestReopen(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, bolt.Options{})
	appendN(t, l, "a", 5, "")
	keyed := appendN(t, l, "a", 1, "idem")
	l.Put(context.Background(), "tokens", "t1", []byte("v"))
	l.Close()

	l = open(t, dir, bolt.Options{})
	if first, head := l.Bounds(); first != 1 || head != 6 {
		t.Fatalf("bounds after reopen %d, %d", first, head)
	}
	var got []string
	l.Read(context.Background(), 0, nil, func(e *ssehub.Event) error {
		got = append(got, fmt.Sprintf("%d:%s:%s:%s", e.ID, e.Topic, e.Key, e.Data))
		return nil
	})
	if fmt.Sprint(got) != "[1:a::data 2:a::data 3:a::data 4:a::data 5:a::data 6:a:idem:data]" {
		t.Fatalf("events after reopen: %v", got)
	}
	if v, err := l.Get(context.Background(), "tokens", "t1"); err != nil || string(v) != "v" {
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
	for {
		if first, head := l.Bounds(); first == head+1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("age retention did not run")
		}
		time.Sleep(50 * time.Millisecond)
	}
	infos, _ := l.Topics(context.Background())
	if len(infos) != 1 || infos[0].Events != 0 || infos[0].LastID != 7 {
		t.Fatalf("topics after retention: %+v", infos)
	}
	l.Close()
	l = open(t, dir, bolt.Options{})
	defer l.Close()
	if first, head := l.Bounds(); first != 8 || head != 7 {
		t.Fatalf("bounds of an emptied log %d, %d", first, head)
	}
	if r := appendN(t, l, "a", 1, ""); r[0].ID != 8 {
		t.Fatalf("id after an emptied log: %d", r[0].ID)
	}
}

func TestOpenTimeoutWhileLocked(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, bolt.Options{})
	defer l.Close()
	if _, err := bolt.Open(dir, bolt.Options{OpenTimeout: 100 * time.Millisecond}); err == nil {
		t.Fatal("a second handle opened a locked store")
	}
}

func TestBatchLimit(t *testing.T) {
	l := open(t, t.TempDir(), bolt.Options{NoSync: true, MaxBatch: 10})
	defer l.Close()
	evs := make([]*ssehub.Event, 11)
	for i := range evs {
		evs[i] = &ssehub.Event{Topic: "x"}
	}
	if _, err := l.Append(context.Background(), evs); err == nil {
		t.Fatal("an 11-event batch passed a limit of 10")
	}
}
