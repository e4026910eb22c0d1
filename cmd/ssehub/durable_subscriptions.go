package main

import (
	"time"

	"github.com/ssehub/ssehub/config"
	"github.com/ssehub/ssehub/httpapi/durable"
)

// subscriptionOptions are the Durable Streams subscription APIs as
// durable_streams.subscriptions configures them.
func subscriptionOptions(c config.DurableSubscriptions) durable.SubscriptionOptions {
	c = c.Resolved()
	return durable.SubscriptionOptions{Disabled: !c.On(), MaxSubscriptions: c.MaxSubscriptions, MaxStreams: c.MaxStreams,
		WebhookTimeout: time.Duration(c.WebhookTimeout), WebhookConcurrency: c.WebhookConcurrency,
		AllowNetworks: c.AllowedNetworks(), PublicURL: c.PublicURL}
}
