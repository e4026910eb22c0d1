package durable

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	"github.com/ssehub/ssehub/httpapi"
)

// maxWebhookAnswer bounds the body read of a webhook's answer.
const maxWebhookAnswer = 64 << 10

// webhookBody is a wake notification (section 7.1).
type webhookBody struct {
	SubscriptionID string       `json:"subscription_id"`
	WakeID         string       `json:"wake_id"`
	Generation     uint64       `json:"generation"`
	Streams        []streamInfo `json:"streams"`
	CallbackURL    string       `json:"callback_url"`
	CallbackToken  string       `json:"callback_token"`
}

// deliverLoop is one webhook worker: it takes due subscriptions from the
// queue and delivers their wake. WebhookConcurrency of them bound the
// requests in flight; each has WebhookTimeout.
func (m *subManager) deliverLoop(client *http.Client) {
	defer m.wg.Done()
	for {
		select {
		case <-m.ctx.Done():
			return
		case id := <-m.deliveries:
			m.deliver(client, id)
		}
	}
}

// deliver sends id's current wake once and records the outcome: an
// answer of 2xx keeps the wake in flight under its lease (the receiver
// calls back), or with {"done": true} acks the wake's tails and ends it;
// anything else schedules a retry with backoff.
func (m *subManager) deliver(client *http.Client, id string) {
	ctx := m.ctx
	s := m.known(id)
	if s == nil {
		return
	}
	defer func() {
		m.mu.Lock()
		s.queued = false
		m.mu.Unlock()
	}()
	s.mu.Lock()
	rec := s.rec
	if m.shared {
		if err := m.reload(ctx, id, s); err != nil {
			s.mu.Unlock()
			return
		}
		rec = s.rec
	}
	if rec == nil || rec.Config.Type != "webhook" || rec.WakeID == "" || rec.NextAttempt.IsZero() || m.now().Before(rec.NextAttempt) {
		m.unlock(id, s)
		return
	}
	now := m.now()
	wake, gen, target := rec.WakeID, rec.Generation, rec.Config.WebhookURL
	if m.shared {
		// One node sends each attempt; the others see it in flight, not
		// due until it has had its time (the attempt after a crash too).
		if won, err := m.claimDelivery(ctx, rec); err != nil || !won {
			m.unlock(id, s)
			return
		}
		rec.NextAttempt = now.Add(2*m.opts.WebhookTimeout + time.Second)
		if err := m.save(ctx, s); err != nil {
			m.unlock(id, s)
			return
		}
	}
	body, _ := json.Marshal(webhookBody{SubscriptionID: id, WakeID: wake, Generation: gen, Streams: snapshotInfos(rec),
		CallbackURL:   cmp.Or(m.opts.PublicURL, rec.Base) + Path + ReservedSegment + "/subscriptions/" + url.PathEscape(id) + "/callback",
		CallbackToken: m.keys.token(rec, now)})
	s.mu.Unlock()

	done, ok := m.post(ctx, client, target, body)
	if ctx.Err() != nil {
		return // shutting down: the wake stays due, and is sent again at start
	}

	s.mu.Lock()
	defer m.unlock(id, s)
	if m.shared {
		if err := m.reload(ctx, id, s); err != nil {
			return
		}
	}
	rec = s.rec
	if rec == nil || rec.WakeID != wake || rec.Generation != gen {
		return // deleted, or a callback ended this wake meanwhile
	}
	now = m.now()
	if !ok {
		rec.Attempts++
		rec.Status = "failed"
		rec.NextAttempt = now.Add(m.backoff(rec.Attempts))
	} else {
		rec.Status, rec.Attempts, rec.NextAttempt = "active", 0, time.Time{}
		rec.LeaseUntil = now.Add(rec.Config.leaseTTL())
		if done {
			for p, t := range rec.Snapshot {
				if l := rec.Links[p]; l != nil && t > l.Acked {
					l.Acked = t
				}
			}
			rec.clearWake()
			if _, err := m.wakeIfIdle(ctx, s); err != nil {
				m.log.Warn("durable streams: waking a subscription", "subscription", id, "err", err)
			}
		}
	}
	if err := m.save(ctx, s); err != nil {
		m.logSave(id, err)
	}
	if !rec.NextAttempt.IsZero() {
		m.kickWatcher()
	}
}

// post sends one signed webhook request; ok is a 2xx answer, done its
// {"done": true}.
func (m *subManager) post(ctx context.Context, client *http.Client, target string, body []byte) (done, ok bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return false, false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "ssehub-durable-streams")
	req.Header.Set("Webhook-Signature", m.keys.signature(m.now(), body))
	res, err := client.Do(req)
	if err != nil {
		m.log.Debug("durable streams: webhook delivery failed", "webhook", redactedURL(target), "err", withoutURL(err))
		return false, false
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, maxWebhookAnswer))
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxWebhookAnswer)) // reuse the connection
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return false, false
	}
	var a struct {
		Done bool `json:"done"`
	}
	_ = json.Unmarshal(b, &a)
	return a.Done, true
}

// backoff is the delay before retry n (1, 2, …): RetryBase doubling up to
// RetryMax, with ±20% jitter.
func (m *subManager) backoff(n int) time.Duration {
	d := m.opts.RetryBase
	for i := 1; i < n && d < m.opts.RetryMax; i++ {
		d *= 2
	}
	d = min(d, m.opts.RetryMax)
	j := time.Duration(float64(d) * 0.2 * (rand.Float64()*2 - 1))
	return max(0, d+j)
}

// redactedURL is a webhook URL for the log: a receiver's credential in its
// query (?token=…) or path is replaced, as the access log does.
func redactedURL(target string) string {
	u, err := url.Parse(target)
	if err != nil {
		return httpapi.Redacted
	}
	return u.Scheme + "://" + u.Host + httpapi.RedactURL(u)
}

// withoutURL is a failed request's error without net/http's quote of the
// whole URL, which may hold a credential.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
