package emitter

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
)

func TestWriteErrorBeforeStream(t *testing.T) {
	checkGoroutines(t)
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusNotFound, "NOT_FOUND", `SKU "X" not found`)
	}))
	resp := open(t, srv.Client(), srv.URL)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("status %d, want 404", resp.StatusCode)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type %q, want application/json", got)
	}
	if want := `{"error":{"code":"NOT_FOUND","message":"SKU \"X\" not found"}}` + "\n"; string(body) != want {
		t.Errorf("body %q, want %q", body, want)
	}
}

func TestErrorEventAfterStream(t *testing.T) {
	checkGoroutines(t)
	errs := make(chan error, 2)
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, err := Start(w, r, Options{})
		if err != nil {
			t.Error(err)
			return
		}
		defer e.Close()
		e.Send("before", "", "1")
		errs <- e.Error("STREAM_ERROR", "source <failed>")
		errs <- e.Send("after", "", "")
	}))
	resp := open(t, srv.Client(), srv.URL)
	body, _ := io.ReadAll(resp.Body)
	want := ": connected\n\nid: 1\ndata: before\n\n" +
		"event: error\ndata: {\"code\":\"STREAM_ERROR\",\"message\":\"source \\u003cfailed\\u003e\"}\n\n"
	if string(body) != want {
		t.Errorf("body\n%q\nwant\n%q", body, want)
	}
	if err := <-errs; err != nil {
		t.Errorf("Error: %v", err)
	}
	if err := <-errs; !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Error: %v, want ErrClosed", err)
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestHandlerCallbackErrors(t *testing.T) {
	checkGoroutines(t)
	var logs syncBuffer
	opts := Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	srv := newServer(t, Handler(func(ctx context.Context, e *Emitter) error {
		switch e.LastEventID() {
		case "app":
			return &Error{Code: "QUERY_ERROR", Message: "bad query"}
		case "wrapped":
			return errors.Join(errors.New("context"), &Error{Code: "WRAPPED", Message: "inner"})
		case "INTERNAL":
			return errors.New("database password is hunter2")
		case "closed":
			e.Close()
			return e.Send("x", "", "")
		}
		return nil
	}, opts))
	for id, want := range map[string]string{
		"app":      `event: error` + "\n" + `data: {"code":"QUERY_ERROR","message":"bad query"}` + "\n\n",
		"wrapped":  `event: error` + "\n" + `data: {"code":"WRAPPED","message":"inner"}` + "\n\n",
		"INTERNAL": `event: error` + "\n" + `data: {"code":"INTERNAL","message":"internal error"}` + "\n\n",
		"closed":   "",
		"ok":       "",
	} {
		resp := open(t, srv.Client(), srv.URL, "Last-Event-ID", id)
		body, _ := io.ReadAll(resp.Body)
		if got := strings.TrimPrefix(string(body), ": connected\n\n"); got != want {
			t.Errorf("%s: body after the first comment %q, want %q", id, got, want)
		}
	}
	if l := logs.String(); !strings.Contains(l, "hunter2") || strings.Count(l, "\n") != 1 {
		t.Errorf("log %q: want exactly the internal error", l)
	}
}
