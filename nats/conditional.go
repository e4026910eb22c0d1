package nats

import (
	"context"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/ssehub/ssehub"
)

// AppendIfLast implements ssehub.ConditionalAppender with JetStream's own
// check: the first message on topic's subject carries
// Nats-Expected-Last-Subject-Sequence, so the stream's leader, which
// orders every node's publishes, refuses the batch (all of it) when
// another message reached the subject since the caller read it. An event
// id is the message's stream sequence, so last is that sequence.
func (s *Store) AppendIfLast(ctx context.Context, topic string, last uint64, events []*ssehub.Event) ([]ssehub.AppendResult, error) {
	subj := s.subject(topic)
	return s.append(ctx, events, func(msgs []*nats.Msg) {
		for _, m := range msgs {
			if m.Subject == subj {
				m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(last, 10))
				return
			}
		}
	})
}

var _ ssehub.ConditionalAppender = (*Store)(nil)
