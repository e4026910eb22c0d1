package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/ssehub/ssehub/client"
)

func ExampleNew() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Last-Event-ID") == "2" {
			w.WriteHeader(http.StatusNoContent) // nothing more: stop for good
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "retry: 10\nid: 1\ndata: hello\n\nid: 2\nevent: bye\ndata: world\n\n")
	}))
	defer srv.Close()

	c := client.New(srv.URL)
	ctx := context.Background()
	for {
		ev, err := c.Next(ctx)
		var failed *client.FailedError
		if errors.As(err, &failed) {
			fmt.Println("stopped:", failed.StatusCode)
			break
		}
		if err != nil {
			fmt.Println(err)
			break
		}
		fmt.Printf("%s %s (id %s)\n", ev.Type, ev.Data, ev.ID)
	}
	fmt.Println("reconnection time:", c.ReconnectionTime())
	// Output:
	// message hello (id 1)
	// bye world (id 2)
	// stopped: 204
	// reconnection time: 10ms
}

func ExampleClient_Events() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		io.WriteString(w, "id: 7\ndata: {\"n\":1}\n\ndata: {\"n\":2}\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done() // keep the stream open
	}))
	defer srv.Close()

	c := client.New(srv.URL,
		client.WithRetry(time.Second),
		client.OnOpen(func(r *http.Response) { fmt.Println("open:", r.Status) }))
	n := 0
	for ev, err := range c.Events(context.Background()) {
		if err != nil {
			fmt.Println("error:", err)
			break
		}
		fmt.Printf("%s id=%s\n", ev.Data, ev.ID)
		if n++; n == 2 {
			break // closes the client and its connection
		}
	}
	// Output:
	// open: 200 OK
	// {"n":1} id=7
	// {"n":2} id=7
}
