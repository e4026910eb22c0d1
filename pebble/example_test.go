package pebble_test

import (
	"context"
	"fmt"
	"os"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/pebble"
)

func Example() {
	dir, _ := os.MkdirTemp("", "ssehub-pebble")
	defer os.RemoveAll(dir)
	l, err := pebble.Open(dir, pebble.Options{Retention: ssehub.Retention{MaxEvents: 1_000_000}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	// Append returns once the events are durable (one WAL sync for
	// everything committed with them).
	res, _ := l.Append(context.Background(), []*ssehub.Event{
		{Topic: "orders.created", Data: []byte(`{"id":1}`), Key: "order-1"},
		{Topic: "users.created", Data: []byte(`{"id":7}`)},
	})
	again, _ := l.Append(context.Background(), []*ssehub.Event{{Topic: "orders.created", Key: "order-1"}})
	fmt.Println(res[0].ID, res[1].ID, again[0].ID, again[0].Duplicate)
	l.Read(context.Background(), 0, ssehub.MustFilter("orders.*"), func(e *ssehub.Event) error {
		fmt.Println(e.ID, e.Topic, string(e.Data))
		return nil
	})
	ti, _ := l.Topic(context.Background(), "users.created")
	fmt.Println(ti.Topic, ti.Events, ti.LastID)
	// Output:
	// 1 2 1 true
	// 1 orders.created {"id":1}
	// users.created 1 2
}
