package client

import (
	"math/rand/v2"
	"time"
)

// minBackoffBase is the backoff's starting step when the reconnection time
// is zero, so that backoff still backs off.
const minBackoffBase = 100 * time.Millisecond

// delay returns how long to wait before the next connection attempt: the
// reconnection time, or with backoff on, that time doubled per extra loss in
// a row, with jitter, capped.
func (c *Client) delay() time.Duration {
	d := c.ReconnectionTime()
	if c.backoffMax <= 0 || c.losses <= 1 {
		return d
	}
	return backoff(d, c.losses, c.backoffMax)
}

// backoff computes the wait after n (>= 2) losses in a row.
func backoff(retry time.Duration, n int, maxDelay time.Duration) time.Duration {
	if retry >= maxDelay {
		return retry
	}
	base := max(retry, minBackoffBase)
	d := base
	for i := 1; i < n && d < maxDelay; i++ {
		d *= 2
	}
	d += rand.N(d/4 + 1)
	return max(min(d, maxDelay), retry)
}
