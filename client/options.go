package client

import (
	"net/http"
	"time"
)

// DefaultRetry is the reconnection time used until the server sets one with
// a retry field, as in browsers.
const DefaultRetry = 3 * time.Second

// Option configures a [Client] made by [New].
type Option func(*Client)

// WithHTTPClient makes the client fetch with hc instead of
// [http.DefaultClient]. Its redirect policy and transport are used as they
// are; its Timeout should be zero, since a stream is a long response.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) { c.hc = hc }
}

// WithHeader adds a request header sent on every connection, e.g.
// Authorization. Accept, Cache-Control and Last-Event-ID are the client's own
// and cannot be set this way (use [WithLastEventID] for the last one). A
// "Host" header sets the request's Host.
func WithHeader(key, value string) Option {
	return func(c *Client) { c.header.Add(key, value) }
}

// WithLastEventID sets the initial last event ID string, as if a previous
// connection had received it: it is sent as Last-Event-ID on the first
// connection and reported as the ID of events until the stream sets another.
// It must not contain CR, LF or NUL.
func WithLastEventID(id string) Option {
	return func(c *Client) { c.lastEventID = id }
}

// WithRetry sets the initial reconnection time (default [DefaultRetry]).
// A retry field from the server replaces it.
func WithRetry(d time.Duration) Option {
	return func(c *Client) { c.retry = max(d, 0) }
}

// WithBackoff turns on capped exponential backoff with jitter: after n
// connection losses in a row with no event received, the wait is the
// reconnection time times 2^(n-1), plus up to a quarter more at random, but
// never more than maxDelay (nor less than the reconnection time). Off by
// default: every wait is exactly the reconnection time, as in browsers.
func WithBackoff(maxDelay time.Duration) Option {
	return func(c *Client) { c.backoffMax = max(maxDelay, 0) }
}

// WithReconnect(false) makes the client stop instead of reconnecting when a
// connection ends: [Client.Next] then returns io.EOF when the body ends and
// the network error when the network fails. On by default.
func WithReconnect(on bool) Option {
	return func(c *Client) { c.noReconnect = !on }
}

// WithMaxEventSize bounds the bytes one event may buffer (see
// sse.Decoder.MaxEventSize); 0 keeps the decoder's default. A larger event
// ends the client with an error wrapping sse.ErrEventTooLarge.
func WithMaxEventSize(n int) Option {
	return func(c *Client) { c.maxEventSize = n }
}

// OnOpen sets a function called each time a connection is announced (a 200
// text/event-stream response arrived), before any of its events. It must not
// read or close the body.
func OnOpen(f func(*http.Response)) Option {
	return func(c *Client) { c.onOpen = f }
}

// OnError sets a function called each time a connection is lost (io.EOF
// when the body ended, or the network error) just before the client waits to
// reconnect. It is not called for a [*FailedError], for cancellation or after
// [Client.Close]; those end the client and are returned by [Client.Next].
func OnError(f func(error)) Option {
	return func(c *Client) { c.onError = f }
}

// OnRetry sets a function called before each wait with the delay the client
// is about to wait and the Last-Event-ID it will send (empty: none).
func OnRetry(f func(delay time.Duration, lastEventID string)) Option {
	return func(c *Client) { c.onRetry = f }
}
