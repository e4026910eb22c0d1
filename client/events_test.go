package client

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestEventsBreakReleasesConnection(t *testing.T) {
	checkGoroutines(t)
	gone := make(chan struct{})
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		stream(w, "id: 1\ndata: a\n\nid: 2\ndata: b\n\nid: 3\ndata: c\n\n")
		<-r.Context().Done()
		close(gone)
	})
	c := testClient(t, s.URL)
	var got []string
	for ev, err := range c.Events(ctxT(t)) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev.ID)
		if len(got) == 2 {
			break
		}
	}
	if len(got) != 2 || got[1] != "2" {
		t.Fatalf("got %v", got)
	}
	select {
	case <-gone:
	case <-time.After(3 * time.Second):
		t.Fatal("server still sees the connection after break")
	}
	if c.LastEventID() != "2" {
		t.Fatalf("LastEventID() = %q", c.LastEventID())
	}
}

func TestEventsEndsWithFailure(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 0 {
			stream(w, "data: a\n\n")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	c := testClient(t, s.URL)
	var n int
	var last error
	for _, err := range c.Events(ctxT(t)) {
		if err != nil {
			last = err
			continue
		}
		n++
	}
	var fe *FailedError
	if n != 1 || !errors.As(last, &fe) || fe.StatusCode != 204 {
		t.Fatalf("%d events, final error %v; want 1 and a 204 FailedError", n, last)
	}
}

func TestEventsEndsWithCancel(t *testing.T) {
	checkGoroutines(t)
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		stream(w, "data: a\n\n")
		<-r.Context().Done()
	})
	c := testClient(t, s.URL)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var last error
	for _, err := range c.Events(ctx) {
		if err != nil {
			last = err
			break
		}
		cancel()
	}
	if !errors.Is(last, context.Canceled) {
		t.Fatalf("final error %v", last)
	}
}
