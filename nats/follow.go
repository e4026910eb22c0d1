package nats

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/ssehub/ssehub"
)

// Follow feeds fn every event after `after`, system events included, from
// one JetStream ordered consumer: an ephemeral consumer that the client
// recreates from the last sequence it delivered whenever it misses a
// message, a heartbeat or its server, so the feed has no gap and no
// duplicate. A feed that breaks for any other reason (the cluster
// unreachable for a while) is started again from the last event passed,
// until ctx is done or the store is closed; Follow returns only then, or
// with fn's error.
func (s *Store) Follow(ctx context.Context, after uint64, fn func(*ssehub.Event) error) error {
	last := after
	for attempt := 0; ; attempt++ {
		err := s.followOnce(ctx, &last, fn)
		var fnErr *callbackError
		switch {
		case errors.As(err, &fnErr):
			return fnErr.err
		case ctx.Err() != nil:
			return ctx.Err()
		case s.isClosed():
			return ssehub.ErrClosed
		}
		if attempt%20 == 0 {
			s.log.Warn("nats: live feed interrupted; resuming", "after", last, "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.closed:
			return ssehub.ErrClosed
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// callbackError carries fn's error out of followOnce.
type callbackError struct{ err error }

func (e *callbackError) Error() string { return e.err.Error() }

func (s *Store) followOnce(ctx context.Context, last *uint64, fn func(*ssehub.Event) error) error {
	if s.isClosed() {
		return ssehub.ErrClosed
	}
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	if *last > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, *last+1
	}
	cctx, cancel := s.requestContext(ctx)
	cons, err := s.stream.OrderedConsumer(cctx, cfg)
	cancel()
	if err != nil {
		return fmt.Errorf("ordered consumer: %w", err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(1024), jetstream.PullHeartbeat(2*time.Second), jetstream.PullExpiry(10*time.Second))
	if err != nil {
		return fmt.Errorf("ordered consumer: %w", err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-ctx.Done():
		case <-s.closed:
		case <-stop:
		}
		it.Stop()
	}()
	for {
		m, err := it.Next()
		if err != nil {
			return err
		}
		md, err := m.Metadata()
		if err != nil {
			return err
		}
		seq := md.Sequence.Stream
		if seq <= *last {
			continue
		}
		ev := s.decode(m.Subject(), m.Headers(), m.Data(), seq, md.Timestamp)
		*last = seq
		if err := fn(ev); err != nil {
			return &callbackError{err}
		}
	}
}
