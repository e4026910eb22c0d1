package durable

import (
	"context"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/hub"
)

// guard returns a context that ends with ctx, or when who's token is
// revoked (on any node) or expires: a subscription of nothing, with the
// token, which the hub ends then, as it ends the token's other streams.
// A live read (long-poll, SSE) waits on it. Without a token (public
// reads, the admin token) it is ctx. The error says the token is
// already revoked or expired; stop releases the subscription.
func (f *Feature) guard(ctx context.Context, who *httpapi.Principal) (context.Context, func(), error) {
	c := who.Credential()
	if c == nil {
		return ctx, func() {}, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	sub, err := f.s.Hub().Subscribe(hub.SubscribeOptions{Context: ctx, Filter: ssehub.Filter{}, Topics: []string{},
		Credential: c, OnEnd: func(error) { cancel() }})
	if err != nil {
		cancel()
		return ctx, func() {}, err
	}
	return ctx, func() { sub.Close(); cancel() }, nil
}
