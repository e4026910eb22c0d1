package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"
)

// connect establishes a connection, waiting first when the previous one was
// lost, and retrying on network errors. It returns nil once a connection is
// announced, or the error that stops the client.
func (c *Client) connect(ctx context.Context) error {
	if err := checkURL(c.url); err != nil {
		c.fatal = err
		return err
	}
	if !validLastEventID(c.LastEventID()) {
		c.fatal = errBadLastEventID
		return c.fatal
	}
	for {
		if c.mustWait {
			if err := c.wait(ctx); err != nil {
				return err
			}
			c.mustWait = false
		}
		resp, err := c.fetch(ctx)
		if err != nil {
			if serr := c.stopped(ctx); serr != nil {
				return serr
			}
			if c.fatal != nil {
				return c.fatal
			}
			if c.noReconnect {
				return err
			}
			c.lost(err)
			continue
		}
		if ferr := check(resp); ferr != nil {
			stop := context.AfterFunc(ctx, c.abort)
			ferr.Body, _ = io.ReadAll(io.LimitReader(resp.Body, BodyExcerptSize))
			stop()
			c.body = resp.Body
			c.closeBody()
			c.fatal = ferr
			return ferr
		}
		c.body = resp.Body
		c.dec = newDecoder(resp.Body, c.LastEventID())
		if c.maxEventSize > 0 {
			c.dec.MaxEventSize = c.maxEventSize
		}
		if c.onOpen != nil {
			c.onOpen(resp)
		}
		return nil
	}
}

// fetch sends one request. The request lives in its own context, canceled by
// ctx (only while fetch runs; Next arms it again while reading), by Close, or
// when the connection ends.
func (c *Client) fetch(ctx context.Context) (*http.Response, error) {
	connCtx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(connCtx, http.MethodGet, c.url, nil)
	if err != nil {
		cancel()
		c.fatal = fmt.Errorf("client: %w", err)
		return nil, c.fatal
	}
	for k, vs := range c.header {
		if strings.EqualFold(k, "Host") {
			if len(vs) > 0 {
				req.Host = vs[0]
			}
			continue
		}
		req.Header[k] = append([]string(nil), vs...)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	req.Header.Del("Last-Event-ID")
	if id := c.LastEventID(); id != "" {
		// Set the map directly: the value is the exact UTF-8 string.
		req.Header["Last-Event-Id"] = []string{id}
	}

	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		cancel()
		return nil, ErrClosed
	}
	c.cancelConn = cancel
	c.mu.Unlock()

	stop := context.AfterFunc(ctx, cancel)
	resp, err := c.hc.Do(req)
	stop()
	if err != nil {
		c.closeBody()
		return nil, err
	}
	return resp, nil
}

// check returns a FailedError unless resp is a 200 with a text/event-stream
// MIME type.
func check(resp *http.Response) *FailedError {
	ct := resp.Header.Get("Content-Type")
	fe := &FailedError{
		URL:         resp.Request.URL.String(),
		StatusCode:  resp.StatusCode,
		Status:      resp.Status,
		ContentType: ct,
	}
	if resp.StatusCode != http.StatusOK {
		return fe
	}
	// Like the MIME Sniffing standard's parser, ignore malformed parameters:
	// only the essence (type/subtype) matters.
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil && !errors.Is(err, mime.ErrInvalidMediaParameter) {
		fe.Err = err
		return fe
	}
	if mt != "text/event-stream" {
		return fe
	}
	return nil
}

// excerpt turns a body excerpt into one short printable line.
func excerpt(b []byte) string {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	const max = 200
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
