package bolt_test

import (
	"context"
	"fmt"
	"os"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/bolt"
)

func Example() {
	dir, _ := os.MkdirTemp("", "ssehub-bolt")
	defer os.RemoveAll(dir)
	l, err := bolt.Open(dir, bolt.Options{Retention: ssehub.Retention{MaxEvents: 1_000_000}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	// Append returns once the events are durable.
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
	// Output:
	// 1 2 1 true
	// 1 orders.created {"id":1}
}
