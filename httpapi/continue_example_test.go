package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/memory"
)

// ticker is a feature whose handler sets a long response up, then lets
// the server run the rest once the handler has returned (Continue), so
// that the response waits with few frames on its goroutine's stack.
type ticker struct{ s *httpapi.Server }

func (f *ticker) Register(s *httpapi.Server) error {
	f.s = s
	s.Route("/tick", httpapi.Methods{"GET": func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "set up") // the handler's part: checks, headers, the first bytes
		s.Continue(r, func() {
			for i := range 3 { // a long-running part would wait here
				fmt.Fprintln(w, "tick", i)
			}
		})
	}})
	return nil
}

// ExampleServer_Continue runs the end of a response after its handler
// returned, on the same goroutine, before ServeHTTP returns.
func ExampleServer_Continue() {
	h, _ := hub.New(context.Background(), memory.New(memory.Options{}), hub.Options{})
	api, err := httpapi.New(httpapi.Options{Hub: h, Features: []httpapi.Feature{&ticker{}}})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(api)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/tick")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Print(string(b))
	// Output:
	// set up
	// tick 0
	// tick 1
	// tick 2
}
