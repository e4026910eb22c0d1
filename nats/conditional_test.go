package nats_test

import (
	"context"
	"errors"
	"testing"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/internal/natstest"
	ssenats "github.com/ssehub/ssehub/nats"
)

// TestAppendIfLast: a conditional append stores its events only while the
// topic's newest event is the one given (0: none), one event or a batch,
// and a refused batch stores nothing; events on other topics do not count.
func TestAppendIfLast(t *testing.T) {
	srv := natstest.Start(t, 1)
	ctx := context.Background()
	s, err := ssenats.Open(ctx, ssenats.Options{URL: srv.URL(), Stream: "CAS", Logger: natstest.Quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ev := func(topic, data string) *ssehub.Event { return &ssehub.Event{Topic: topic, Data: []byte(data)} }
	res, err := s.AppendIfLast(ctx, "a", 0, []*ssehub.Event{ev("a", "1")})
	if err != nil {
		t.Fatalf("first append on an empty topic: %v", err)
	}
	first := res[0].ID
	if _, err := s.AppendIfLast(ctx, "a", 0, []*ssehub.Event{ev("a", "stale")}); !errors.Is(err, ssehub.ErrConflict) {
		t.Fatalf("an append expecting an empty topic after one event: %v, want ErrConflict", err)
	}
	// Another topic moves on: the condition on "a" still holds.
	if _, err := s.Append(ctx, []*ssehub.Event{ev("b", "x")}); err != nil {
		t.Fatal(err)
	}
	res, err = s.AppendIfLast(ctx, "a", first, []*ssehub.Event{ev("a", "2"), ev("a", "3"), ev("b", "y")})
	if err != nil {
		t.Fatalf("a batch on the right last id: %v", err)
	}
	last := res[1].ID
	if _, err := s.AppendIfLast(ctx, "a", first, []*ssehub.Event{ev("a", "stale1"), ev("a", "stale2")}); !errors.Is(err, ssehub.ErrConflict) {
		t.Fatalf("a batch on a stale last id: %v, want ErrConflict", err)
	}
	if _, err := s.AppendIfLast(ctx, "a", last, []*ssehub.Event{ev("a", "4")}); err != nil {
		t.Fatalf("one event on the right last id: %v", err)
	}
	var got []string
	if err := s.Read(ctx, 0, ssehub.MustFilter("a"), func(e *ssehub.Event) error { got = append(got, string(e.Data)); return nil }); err != nil {
		t.Fatal(err)
	}
	if want := "1 2 3 4"; join(got) != want {
		t.Fatalf("topic a holds %q, want %q (a refused append stored something)", join(got), want)
	}
}

func join(ss []string) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += " "
		}
		out += s
	}
	return out
}

// TestCompareAndSwap: a KV key changes only while it holds what the
// caller read: created when absent, updated from the value read, refused
// (ErrConflict, nothing stored) otherwise.
func TestCompareAndSwap(t *testing.T) {
	srv := natstest.Start(t, 1)
	ctx := context.Background()
	s, err := ssenats.Open(ctx, ssenats.Options{URL: srv.URL(), Stream: "SWAP", Logger: natstest.Quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CompareAndSwap(ctx, "b", "k", nil, []byte("one")); err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := s.CompareAndSwap(ctx, "b", "k", nil, []byte("again")); !errors.Is(err, ssehub.ErrConflict) {
		t.Fatalf("create of an existing key: %v", err)
	}
	if err := s.CompareAndSwap(ctx, "b", "k", []byte("stale"), []byte("two")); !errors.Is(err, ssehub.ErrConflict) {
		t.Fatalf("swap from a stale value: %v", err)
	}
	if err := s.CompareAndSwap(ctx, "b", "k", []byte("one"), []byte("two")); err != nil {
		t.Fatalf("swap from the value read: %v", err)
	}
	if err := s.CompareAndSwap(ctx, "b", "absent", []byte("x"), []byte("y")); !errors.Is(err, ssehub.ErrConflict) {
		t.Fatalf("swap of an absent key from a value: %v", err)
	}
	if v, err := s.Get(ctx, "b", "k"); err != nil || string(v) != "two" {
		t.Fatalf("the key holds %q (%v), want two", v, err)
	}
	if err := s.Delete(ctx, "b", "k"); err != nil {
		t.Fatal(err)
	}
	if err := s.CompareAndSwap(ctx, "b", "k", nil, []byte("three")); err != nil {
		t.Fatalf("create after a delete: %v", err)
	}
}
