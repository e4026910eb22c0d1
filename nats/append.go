package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/ssehub/ssehub"
)

// JetStream error codes the store tells apart.
const (
	codeMsgTooLarge       = 10054
	codeHeaderTooLarge    = 10097
	codeBatchTooLarge     = 10199
	codeBatchIncomplete   = 10176
	codeBatchDuplicate    = 10201
	codeBatchTooManyAtmpt = 10210
	codeWrongLastSeq      = 10071
)

// pubAck is JetStream's answer to a publish or an atomic batch commit.
type pubAck struct {
	Stream    string `json:"stream"`
	Seq       uint64 `json:"seq"`
	Duplicate bool   `json:"duplicate,omitempty"`
	BatchID   string `json:"batch,omitempty"`
	Count     int    `json:"count,omitempty"`
	Error     *struct {
		Code        int    `json:"code"`
		ErrCode     int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error,omitempty"`
}

// Append publishes events to the stream. One event is one JetStream
// publish; several are one JetStream atomic batch (all stored or none, with
// consecutive sequences), at most Capabilities().MaxBatch of them. A keyed
// event carries Nats-Msg-Id, a digest of its topic and key, so the stream
// answers a second publish inside its duplicate window with the first
// one's sequence. Append retries while the cluster elects a leader, within
// PublishTimeout; a publish the cluster did not take fails with an error
// wrapping ssehub.ErrUnavailable.
func (s *Store) Append(ctx context.Context, events []*ssehub.Event) ([]ssehub.AppendResult, error) {
	return s.append(ctx, events, nil)
}

// append is Append; cond, when set, adds its expectation to the messages
// before they are sent (conditional.go).
func (s *Store) append(ctx context.Context, events []*ssehub.Event, cond func([]*nats.Msg)) ([]ssehub.AppendResult, error) {
	if s.isClosed() {
		return nil, ssehub.ErrClosed
	}
	if len(events) == 0 {
		return nil, nil
	}
	if len(events) > s.caps.MaxBatch {
		return nil, fmt.Errorf("nats: a batch of %d events: %w (at most %d in one all-or-nothing append)", len(events), ssehub.ErrTooLarge, s.caps.MaxBatch)
	}
	now := time.Now().UTC()
	msgs := make([]*nats.Msg, len(events))
	max := s.nc.MaxPayload()
	for i, ev := range events {
		if err := ssehub.ValidateTopic(ev.Topic); err != nil && !ssehub.IsSys(ev.Topic) {
			return nil, fmt.Errorf("nats: %w", err)
		}
		msgs[i] = s.encode(ev, now)
		if size := int64(msgSize(msgs[i])); size > max {
			return nil, fmt.Errorf("nats: an event of %d bytes (data, fields and headers): %w (the servers' max_payload is %d)", size, ssehub.ErrTooLarge, max)
		}
	}
	if cond != nil {
		cond(msgs)
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.PublishTimeout)
	defer cancel()
	res := make([]ssehub.AppendResult, len(events))
	var err error
	if len(events) == 1 {
		res[0], err = s.publishOne(ctx, msgs[0])
	} else {
		err = s.publishBatch(ctx, events, msgs, res)
	}
	if err != nil {
		return nil, err
	}
	for i, ev := range events {
		ev.ID, ev.Time = res[i].ID, now
	}
	return res, nil
}

func msgSize(m *nats.Msg) int {
	n := len(m.Subject) + len(m.Data) + 12 // NATS/1.0\r\n and the final \r\n
	for k, vs := range m.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// publishOne publishes one message and waits for its ack.
func (s *Store) publishOne(ctx context.Context, m *nats.Msg) (ssehub.AppendResult, error) {
	for {
		ack, err := s.js.PublishMsg(ctx, m, jetstream.WithRetryAttempts(0), jetstream.WithExpectStream(s.name))
		if err == nil {
			return ssehub.AppendResult{ID: ack.Sequence, Duplicate: ack.Duplicate}, nil
		}
		if err := s.publishError(err); err != nil || ctx.Err() != nil {
			if err == nil {
				err = s.unavailable("publish", ctx.Err())
			}
			return ssehub.AppendResult{}, err
		}
		if !s.backoff(ctx) {
			return ssehub.AppendResult{}, s.unavailable("publish", fmt.Errorf("no stream leader within %v: %w", s.opts.PublishTimeout, err))
		}
	}
}

// publishError classifies a failed publish: nil means the servers did not
// take it and it may be retried at once (no leader, no responders); else
// the error to return.
func (s *Store) publishError(err error) error {
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrNoStreamResponse) && !errors.Is(err, context.DeadlineExceeded):
		return nil
	case errors.As(err, &apiErr):
		switch apiErr.ErrorCode {
		case codeMsgTooLarge, codeHeaderTooLarge, codeBatchTooLarge:
			return fmt.Errorf("nats: publish: %w: %w", ssehub.ErrTooLarge, err)
		case codeWrongLastSeq:
			return fmt.Errorf("nats: publish: %w: %w", ssehub.ErrConflict, err)
		case 10008, 10009, 10023, codeBatchIncomplete, codeBatchTooManyAtmpt: // temporarily unavailable, not leader, resources, batch lost in an election, too many batches
			return nil
		}
	case errors.Is(err, nats.ErrMaxPayload):
		return fmt.Errorf("nats: publish: %w: %w", ssehub.ErrTooLarge, err)
	}
	// A timeout is not retried: the servers may have stored the event
	// after all (a retry with a key is safe; the client decides).
	return s.unavailable("publish", err)
}

// backoff waits a little before a retry; false when ctx ends first.
func (s *Store) backoff(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return false
	case <-s.closed:
		return false
	case <-time.After(100 * time.Millisecond):
		return true
	}
}

// publishBatch stores several events as one atomic batch. Keyed events
// repeated inside the batch are stored once. When the stream already holds
// a keyed event of the batch (a batch being retried), JetStream refuses
// the whole batch; then each keyed event is published on its own, which
// answers duplicates with their first ids, and the rest goes as one
// atomic batch again (see docs/nats.md on what that costs).
func (s *Store) publishBatch(ctx context.Context, events []*ssehub.Event, msgs []*nats.Msg, res []ssehub.AppendResult) error {
	first := map[string]int{} // Nats-Msg-Id -> index of its first event
	sameAs := make([]int, len(events))
	var send []int
	for i, m := range msgs {
		sameAs[i] = i
		if id := m.Header.Get(hdrMsgID); id != "" {
			if j, ok := first[id]; ok {
				sameAs[i] = j
				continue
			}
			first[id] = i
		}
		send = append(send, i)
	}
	ids, err := s.atomic(ctx, msgs, send)
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == codeBatchDuplicate {
		var rest []int
		for _, i := range send {
			if msgs[i].Header.Get(hdrMsgID) == "" {
				rest = append(rest, i)
				continue
			}
			r, err := s.publishOne(ctx, msgs[i])
			if err != nil {
				return err
			}
			res[i] = r
		}
		ids, err = s.atomic(ctx, msgs, rest)
		send = rest
	}
	if err != nil {
		if errors.As(err, &apiErr) {
			return s.publishError(err)
		}
		return err
	}
	for k, i := range send {
		res[i] = ssehub.AppendResult{ID: ids[k]}
	}
	for i, j := range sameAs {
		if j != i {
			res[i] = ssehub.AppendResult{ID: res[j].ID, Duplicate: true}
		}
	}
	return nil
}

// atomic publishes msgs[idx...] as one JetStream atomic batch and returns
// their sequences; one message is an ordinary publish. Transient refusals
// (no leader, a batch lost in an election, too many batches in flight)
// are retried with a new batch id until ctx ends; a JetStream refusal of
// the batch itself comes back as its *jetstream.APIError.
func (s *Store) atomic(ctx context.Context, msgs []*nats.Msg, idx []int) ([]uint64, error) {
	switch len(idx) {
	case 0:
		return nil, nil
	case 1:
		r, err := s.publishOne(ctx, msgs[idx[0]])
		if err != nil {
			return nil, err
		}
		if r.Duplicate { // another publisher stored the key meanwhile
			return nil, &jetstream.APIError{ErrorCode: codeBatchDuplicate, Code: 400, Description: "duplicate"}
		}
		return []uint64{r.ID}, nil
	}
	select {
	case s.batchSem <- struct{}{}:
		defer func() { <-s.batchSem }()
	case <-ctx.Done():
		return nil, s.unavailable("atomic batch", ctx.Err())
	}
	for {
		ack, err := s.atomicOnce(ctx, msgs, idx)
		if err == nil {
			if ack.Count != len(idx) || ack.Seq < uint64(len(idx)) {
				return nil, s.unavailable("atomic batch", fmt.Errorf("ack for %d messages ending at %d, sent %d", ack.Count, ack.Seq, len(idx)))
			}
			ids := make([]uint64, len(idx))
			for k := range ids {
				ids[k] = ack.Seq - uint64(len(idx)-1-k)
			}
			return ids, nil
		}
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) {
			if retry := s.publishError(err); retry != nil || apiErr.ErrorCode == codeBatchDuplicate {
				return nil, err
			}
		} else if !errors.Is(err, nats.ErrNoResponders) {
			return nil, s.unavailable("atomic batch", err)
		}
		if !s.backoff(ctx) {
			return nil, s.unavailable("atomic batch", fmt.Errorf("not stored within %v: %w", s.opts.PublishTimeout, err))
		}
	}
}

func (s *Store) atomicOnce(ctx context.Context, msgs []*nats.Msg, idx []int) (*pubAck, error) {
	batch := nuid.Next()
	for k, i := range idx {
		src := msgs[i]
		m := &nats.Msg{Subject: src.Subject, Data: src.Data, Header: nats.Header{}}
		for name, vs := range src.Header {
			m.Header[name] = vs
		}
		m.Header.Set(hdrBatchID, batch)
		m.Header.Set(hdrBatchSeq, strconv.Itoa(k+1))
		if k < len(idx)-1 {
			if err := s.nc.PublishMsg(m); err != nil {
				return nil, err
			}
			continue
		}
		m.Header.Set(hdrBatchCommit, "1")
		reply, err := s.nc.RequestMsgWithContext(ctx, m)
		if err != nil {
			return nil, err
		}
		var ack pubAck
		if err := json.Unmarshal(reply.Data, &ack); err != nil {
			if st := reply.Header.Get(hdrStatus); st == "503" {
				return nil, nats.ErrNoResponders
			}
			return nil, fmt.Errorf("nats: atomic batch: unreadable ack %q: %w", reply.Data, err)
		}
		if ack.Error != nil {
			return nil, &jetstream.APIError{Code: ack.Error.Code, ErrorCode: jetstream.ErrorCode(ack.Error.ErrCode), Description: ack.Error.Description}
		}
		return &ack, nil
	}
	return nil, errors.New("nats: empty batch")
}
