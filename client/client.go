package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/ssehub/ssehub/sse"
)

// Client is one EventSource: a URL, its last event ID string and its
// reconnection time. Read it from one goroutine with [Client.Next] or
// [Client.Events]; [Client.Close], [Client.LastEventID] and
// [Client.ReconnectionTime] may be called from any goroutine.
type Client struct {
	url          string
	hc           *http.Client
	header       http.Header
	backoffMax   time.Duration
	noReconnect  bool
	maxEventSize int
	onOpen       func(*http.Response)
	onError      func(error)
	onRetry      func(time.Duration, string)

	// Reader state, used only by the goroutine calling Next.
	body     io.ReadCloser
	dec      *sse.Decoder
	mustWait bool  // a connection was lost: wait before the next attempt
	losses   int   // connection losses since an event last arrived
	fatal    error // set once the client failed for good

	closeOnce sync.Once
	done      chan struct{} // closed by Close

	mu          sync.Mutex
	lastEventID string
	retry       time.Duration
	cancelConn  context.CancelFunc // aborts the current fetch, if any
	closed      bool
}

// New returns a client for the event stream at rawURL. It does not connect
// until the first [Client.Next] (or [Client.Events]).
func New(rawURL string, opts ...Option) *Client {
	c := &Client{
		url:    rawURL,
		hc:     http.DefaultClient,
		header: make(http.Header),
		retry:  DefaultRetry,
		done:   make(chan struct{}),
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// URL returns the URL the client connects (and reconnects) to.
func (c *Client) URL() string { return c.url }

// LastEventID returns the last event ID string: the id of the last event the
// stream set (before its last dispatch), persisted across connections. It is
// sent as Last-Event-ID on reconnection unless empty.
func (c *Client) LastEventID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastEventID
}

// ReconnectionTime returns the current reconnection time: the last retry the
// server sent, or the initial one ([DefaultRetry] unless [WithRetry]).
func (c *Client) ReconnectionTime() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.retry
}

// Close stops the client: it aborts the current connection or wait, and
// every later [Client.Next] returns [ErrClosed]. It is safe to call more than
// once and from any goroutine.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		if c.cancelConn != nil {
			c.cancelConn()
		}
		c.mu.Unlock()
		close(c.done)
	})
	return nil
}

// Next returns the next event, connecting and reconnecting as needed. An
// event's ID is the last event ID string at its dispatch and its Type is
// "message" unless the stream named another.
//
// Next returns an error only when the client stops: a [*FailedError] when the
// connection failed for good, ctx.Err() when ctx is done (the connection is
// aborted; a later call reconnects), [ErrClosed] after [Client.Close], an
// error wrapping sse.ErrEventTooLarge, a fatal request error (such as a bad
// URL), or, with WithReconnect(false), io.EOF or the network error that ended
// the connection.
func (c *Client) Next(ctx context.Context) (sse.Event, error) {
	for {
		if c.fatal != nil {
			return sse.Event{}, c.fatal
		}
		if err := c.stopped(ctx); err != nil {
			return sse.Event{}, err
		}
		if c.dec == nil {
			if err := c.connect(ctx); err != nil {
				return sse.Event{}, err
			}
		}
		stop := context.AfterFunc(ctx, c.abort)
		ev, err := c.dec.Next()
		stop()
		c.syncState()
		if err == nil {
			c.losses = 0
			return ev, nil
		}
		c.closeBody()
		if err := c.stopped(ctx); err != nil {
			return sse.Event{}, err
		}
		if errors.Is(err, sse.ErrEventTooLarge) {
			c.fatal = fmt.Errorf("client: %w", err)
			return sse.Event{}, c.fatal
		}
		if !errors.Is(err, io.EOF) {
			err = fmt.Errorf("connection lost: %w", err)
		}
		if c.noReconnect {
			return sse.Event{}, err
		}
		c.lost(err)
	}
}

// stopped returns the error that ends this call: ctx's or ErrClosed.
func (c *Client) stopped(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case <-c.done:
		return ErrClosed
	default:
		return nil
	}
}

// syncState copies the decoder's last event ID and retry into the client.
func (c *Client) syncState() {
	id := c.dec.LastEventID()
	r, ok := c.dec.Retry()
	c.mu.Lock()
	c.lastEventID = id
	if ok {
		c.retry = r
	}
	c.mu.Unlock()
}

// abort cancels the current fetch (used when Next's ctx is done).
func (c *Client) abort() {
	c.mu.Lock()
	if c.cancelConn != nil {
		c.cancelConn()
	}
	c.mu.Unlock()
}

// closeBody ends the current connection.
func (c *Client) closeBody() {
	c.abort()
	if c.body != nil {
		c.body.Close()
	}
	c.body, c.dec = nil, nil
	c.mu.Lock()
	c.cancelConn = nil
	c.mu.Unlock()
}

// lost records a connection loss: report it and wait before the next attempt.
func (c *Client) lost(err error) {
	c.losses++
	c.mustWait = true
	if c.onError != nil {
		c.onError(err)
	}
}

// wait sleeps for the reconnection delay, or until ctx is done or Close.
func (c *Client) wait(ctx context.Context) error {
	d := c.delay()
	if c.onRetry != nil {
		c.onRetry(d, c.LastEventID())
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return ErrClosed
	}
}

// checkURL rejects URLs that can never be fetched, so the client fails at
// once instead of retrying forever.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("client: bad URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("client: bad URL %q: scheme must be http or https", raw)
	}
	if u.Host == "" {
		return fmt.Errorf("client: bad URL %q: no host", raw)
	}
	return nil
}
