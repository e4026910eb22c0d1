package durable_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/ssehub/ssehub/httpapi/durable"
)

// The subscription APIs come with the feature; SubscriptionOptions bound
// them and say which local networks webhooks may reach (none by default).
func ExampleSubscriptionOptions() {
	f := durable.New(durable.Options{Subscriptions: durable.SubscriptionOptions{
		MaxSubscriptions: 100,
		WebhookTimeout:   5 * time.Second,
		AllowNetworks:    []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, // development only
		PublicURL:        "https://hub.example",
	}})
	fmt.Printf("%T serves %s%s/subscriptions/{id}\n", f, durable.Path, durable.ReservedSegment)
	// Output: *durable.Feature serves /v1/stream/__ds/subscriptions/{id}
}
