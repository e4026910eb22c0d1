package client

import (
	"context"
	"errors"
	"io"
	"iter"

	"github.com/ssehub/ssehub/sse"
)

// Events returns an iterator over the client's events, reconnecting as
// needed. Each pair has a nil error except possibly the last: when the client
// stops, the iteration ends with the error [Client.Next] returned (a
// [*FailedError], ctx.Err(), [ErrClosed], ...). With WithReconnect(false), a
// stream that ends cleanly ends the iteration without an error.
//
// Breaking out of the loop closes the client, so its connection is released
// at once; the iterator starts no goroutines.
func (c *Client) Events(ctx context.Context) iter.Seq2[sse.Event, error] {
	return func(yield func(sse.Event, error) bool) {
		defer c.Close()
		for {
			ev, err := c.Next(ctx)
			if err != nil {
				if !errors.Is(err, io.EOF) {
					yield(sse.Event{}, err)
				}
				return
			}
			if !yield(ev, nil) {
				return
			}
		}
	}
}
