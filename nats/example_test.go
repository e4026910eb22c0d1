package nats_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/ssehub/ssehub"
	ssenats "github.com/ssehub/ssehub/nats"
)

// ExampleOpen starts an embedded NATS server, opens a store on it, appends
// an event and reads it back.
func ExampleOpen() {
	quiet := slog.New(slog.DiscardHandler)
	dir, err := os.MkdirTemp("", "ssehub-nats-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	srv, err := ssenats.StartServer(ssenats.EmbeddedSettings{Name: "example", StoreDir: dir}, "", "", "", quiet)
	if err != nil {
		panic(err)
	}
	defer srv.Shutdown()

	ctx := context.Background()
	s, err := ssenats.Open(ctx, ssenats.Options{URL: srv.ClientURL(), Stream: "EXAMPLE", Logger: quiet})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	res, err := s.Append(ctx, []*ssehub.Event{{Topic: "orders.created", Key: "order-1", Data: []byte(`{"id":1}`)}})
	if err != nil {
		panic(err)
	}
	fmt.Println("id", res[0].ID)
	again, _ := s.Append(ctx, []*ssehub.Event{{Topic: "orders.created", Key: "order-1", Data: []byte(`{"id":1}`)}})
	fmt.Println("again", again[0].ID, "duplicate", again[0].Duplicate)
	_ = s.Read(ctx, 0, ssehub.MustFilter("orders.*"), func(e *ssehub.Event) error {
		fmt.Println(e.ID, e.Topic, string(e.Data))
		return nil
	})
	// Output:
	// id 1
	// again 1 duplicate true
	// 1 orders.created {"id":1}
}
