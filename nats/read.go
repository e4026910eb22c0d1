package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/ssehub/ssehub"
)

const (
	readBatch    = 256     // messages one direct batch get asks for
	readMaxBytes = 1 << 20 // and bytes
)

// getRequest is JetStream's message get request (JSApiMsgGetRequest).
type getRequest struct {
	Seq       uint64   `json:"seq,omitempty"`
	NextFor   string   `json:"next_by_subj,omitempty"`
	LastFor   string   `json:"last_by_subj,omitempty"`
	Batch     int      `json:"batch,omitempty"`
	MaxBytes  int      `json:"max_bytes,omitempty"`
	MultiLast []string `json:"multi_last,omitempty"`
}

// rawMsg is one stored message as a get returns it.
type rawMsg struct {
	subject string
	seq     uint64
	header  nats.Header
	data    []byte
	time    time.Time
}

var errNoMessage = errors.New("no message")

// direct sends a batched direct get, answered by any replica (the local
// one when there is one), and calls fn for each message it returns. It
// reports the matching messages the replica has past the last one sent.
// No consumer is made: the request and its answers are plain messages on
// an inbox.
func (s *Store) direct(ctx context.Context, req getRequest, fn func(rawMsg)) (pending uint64, err error) {
	body, _ := json.Marshal(req)
	inbox := s.nc.NewRespInbox()
	sub, err := s.nc.SubscribeSync(inbox)
	if err != nil {
		return 0, s.unavailable("direct get", err)
	}
	defer sub.Unsubscribe()
	if err := s.nc.PublishRequest("$JS.API.DIRECT.GET."+s.name, inbox, body); err != nil {
		return 0, s.unavailable("direct get", err)
	}
	ctx, cancel := s.requestContext(ctx)
	defer cancel()
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return 0, err
			}
			return 0, s.unavailable("direct get", err)
		}
		if st := m.Header.Get(hdrStatus); st != "" {
			switch st {
			case "204": // end of batch
				np, _ := strconv.ParseUint(m.Header.Get(hdrNumPending), 10, 64)
				return np, nil
			case "404":
				return 0, errNoMessage
			case "503":
				return 0, s.unavailable("direct get", nats.ErrNoResponders)
			default:
				return 0, s.unavailable("direct get", fmt.Errorf("status %s %s", st, m.Header.Get("Description")))
			}
		}
		seq, err := strconv.ParseUint(m.Header.Get(hdrSeq), 10, 64)
		if err != nil {
			return 0, s.unavailable("direct get", fmt.Errorf("a message without %s", hdrSeq))
		}
		ts, _ := time.Parse(time.RFC3339Nano, m.Header.Get(hdrTimeStamp))
		fn(rawMsg{subject: m.Header.Get(hdrSubject), seq: seq, header: m.Header, data: m.Data, time: ts})
		if req.Batch == 0 {
			return 0, nil
		}
	}
}

// leaderGet asks the stream's leader for one message: the consistent read
// that a replica's possibly late direct answer is checked against.
func (s *Store) leaderGet(ctx context.Context, req getRequest) (rawMsg, error) {
	body, _ := json.Marshal(req)
	ctx, cancel := s.requestContext(ctx)
	defer cancel()
	reply, err := s.nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+s.name, body)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return rawMsg{}, err
		}
		return rawMsg{}, s.unavailable("get", err)
	}
	var resp struct {
		Message *struct {
			Subject  string    `json:"subject"`
			Sequence uint64    `json:"seq"`
			Header   []byte    `json:"hdrs"`
			Data     []byte    `json:"data"`
			Time     time.Time `json:"time"`
		} `json:"message"`
		Error *struct {
			Code        int    `json:"code"`
			ErrCode     int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(reply.Data, &resp); err != nil {
		return rawMsg{}, s.unavailable("get", err)
	}
	if resp.Error != nil {
		if resp.Error.Code == 404 {
			return rawMsg{}, errNoMessage
		}
		return rawMsg{}, s.unavailable("get", fmt.Errorf("%s (%d)", resp.Error.Description, resp.Error.ErrCode))
	}
	if resp.Message == nil {
		return rawMsg{}, s.unavailable("get", errors.New("empty answer"))
	}
	m := resp.Message
	var h nats.Header
	if len(m.Header) > 0 {
		if h, err = nats.DecodeHeadersMsg(m.Header); err != nil {
			return rawMsg{}, s.unavailable("get", err)
		}
	}
	return rawMsg{subject: m.Subject, seq: m.Sequence, header: h, data: m.Data, time: m.Time}, nil
}

// subjects translates a filter into subject filters: one per normalized
// pattern, so they select disjoint sets of messages.
func (s *Store) subjects(f ssehub.Filter) []string {
	if f.IsAll() {
		return []string{s.prefix + ">"}
	}
	var out []string
	for _, p := range f.Patterns() {
		if p.Exact() {
			out = append(out, s.prefix+p.String())
		} else {
			out = append(out, s.prefix+strings.TrimSuffix(p.String(), "*")+">")
		}
	}
	return out
}

// cursor reads one subject filter's messages in sequence order up to a
// head: batches of direct gets from a replica, checked against the leader
// where the replica runs out before the head, so a late replica never
// shortens a read.
type cursor struct {
	s       *Store
	subject string
	next    uint64 // first sequence not yet fetched
	head    uint64
	buf     []rawMsg
	done    bool
}

// peek returns the cursor's next message, fetching when needed; ok is
// false when the cursor has no message up to the head.
func (c *cursor) peek(ctx context.Context) (rawMsg, bool, error) {
	for len(c.buf) == 0 && !c.done {
		if err := c.fill(ctx); err != nil {
			return rawMsg{}, false, err
		}
	}
	if len(c.buf) == 0 {
		return rawMsg{}, false, nil
	}
	return c.buf[0], true, nil
}

func (c *cursor) pop() { c.buf[0] = rawMsg{}; c.buf = c.buf[1:] }

func (c *cursor) fill(ctx context.Context) error {
	if c.next > c.head {
		c.done = true
		return nil
	}
	c.buf = c.buf[:0]
	pending, err := c.s.direct(ctx, getRequest{Seq: c.next, NextFor: c.subject, Batch: readBatch, MaxBytes: readMaxBytes}, func(m rawMsg) {
		if m.seq >= c.next && m.seq <= c.head {
			c.buf = append(c.buf, m)
		}
		if m.seq >= c.next {
			c.next = m.seq + 1
		}
	})
	if err != nil && !errors.Is(err, errNoMessage) {
		return err
	}
	if c.next > c.head {
		c.done = true
		return nil
	}
	if err == nil && pending > 0 && len(c.buf) > 0 {
		return nil // more to fetch from the replica
	}
	// The replica has nothing more before the head: ask the leader
	// whether that is so.
	m, err := c.s.leaderGet(ctx, getRequest{Seq: c.next, NextFor: c.subject})
	switch {
	case errors.Is(err, errNoMessage):
		c.done = true
	case err != nil:
		return err
	case m.seq > c.head:
		c.done = true
	default:
		c.buf = append(c.buf, m)
		c.next = m.seq + 1
	}
	return nil
}

// Read calls fn for each retained event after `after` that f matches, up
// to the stream's last sequence when Read starts. Each pattern of f is a
// subject filter read in batches of direct gets (no consumer per read);
// several are merged by sequence. System events are skipped.
func (s *Store) Read(ctx context.Context, after uint64, f ssehub.Filter, fn func(*ssehub.Event) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.isClosed() {
		return ssehub.ErrClosed
	}
	if f.IsEmpty() {
		return nil
	}
	info, err := s.info(ctx)
	if err != nil {
		return err
	}
	head := info.State.LastSeq
	if after >= head {
		return nil
	}
	var cs []*cursor
	for _, subj := range s.subjects(f) {
		cs = append(cs, &cursor{s: s, subject: subj, next: after + 1, head: head})
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var best *cursor
		var bm rawMsg
		for _, c := range cs {
			m, ok, err := c.peek(ctx)
			if err != nil {
				return err
			}
			if ok && (best == nil || m.seq < bm.seq) {
				best, bm = c, m
			}
		}
		if best == nil {
			return nil
		}
		best.pop()
		ev := s.decode(bm.subject, bm.header, bm.data, bm.seq, bm.time)
		if ssehub.IsSys(ev.Topic) || !f.Match(ev.Topic) {
			continue
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
}

// Last returns the topic's newest retained event. It reads from the local
// replica (a direct get), which may be a few milliseconds behind the
// leader.
func (s *Store) Last(ctx context.Context, topic string) (*ssehub.Event, error) {
	if s.isClosed() {
		return nil, ssehub.ErrClosed
	}
	if ssehub.IsSys(topic) || ssehub.ValidateTopic(topic) != nil {
		return nil, fmt.Errorf("nats: topic %q: %w", topic, ssehub.ErrNotFound)
	}
	var out *rawMsg
	_, err := s.direct(ctx, getRequest{LastFor: s.subject(topic)}, func(m rawMsg) { out = &m })
	switch {
	case errors.Is(err, errNoMessage) || err == nil && out == nil:
		return nil, fmt.Errorf("nats: topic %q: %w", topic, ssehub.ErrNotFound)
	case err != nil:
		return nil, err
	}
	return s.decode(out.subject, out.header, out.data, out.seq, out.time), nil
}

// Topic returns one topic's retained count and newest id.
func (s *Store) Topic(ctx context.Context, topic string) (ssehub.TopicInfo, error) {
	if ssehub.IsSys(topic) || ssehub.ValidateTopic(topic) != nil {
		return ssehub.TopicInfo{}, fmt.Errorf("nats: topic %q: %w", topic, ssehub.ErrNotFound)
	}
	infos, err := s.topics(ctx, s.subject(topic), func(string) bool { return true }, 0)
	if err != nil {
		return ssehub.TopicInfo{}, err
	}
	for _, ti := range infos {
		if ti.Topic == topic {
			return ti, nil
		}
	}
	return ssehub.TopicInfo{}, fmt.Errorf("nats: topic %q: %w", topic, ssehub.ErrNotFound)
}

// Topics lists the topics with retained events, by name. The counts come
// from the stream's per-subject state (one stream info request, paged by
// the client, that costs what the stream's subjects are); the newest ids
// from one direct multi-last get per 1000 topics of the page.
func (s *Store) Topics(ctx context.Context, after string, limit int) ([]ssehub.TopicInfo, error) {
	return s.topics(ctx, s.prefix+">", func(t string) bool { return t > after }, limit)
}

func (s *Store) topics(ctx context.Context, filter string, keep func(string) bool, limit int) ([]ssehub.TopicInfo, error) {
	if s.isClosed() {
		return nil, ssehub.ErrClosed
	}
	var infos []ssehub.TopicInfo
	err := s.withState(ctx, func(ctx context.Context) error {
		info, err := s.stream.Info(ctx, jetstream.WithSubjectFilter(filter))
		if err != nil {
			return s.unavailable("stream info", err)
		}
		for subj, n := range info.State.Subjects {
			t := s.topicOf(subj)
			if t == "" || ssehub.IsSys(t) || n == 0 || !keep(t) {
				continue
			}
			infos = append(infos, ssehub.TopicInfo{Topic: t, Events: int64(n)})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Topic < infos[j].Topic })
	if limit > 0 && len(infos) > limit {
		infos = infos[:limit]
	}
	const multi = 1000 // the server answers at most 1024 subjects a request
	for lo := 0; lo < len(infos); lo += multi {
		page := infos[lo:min(lo+multi, len(infos))]
		subjects := make([]string, len(page))
		at := make(map[string]int, len(page))
		for i, ti := range page {
			subjects[i] = s.subject(ti.Topic)
			at[subjects[i]] = i
		}
		_, err := s.direct(ctx, getRequest{MultiLast: subjects, Batch: len(subjects), MaxBytes: 64 << 20}, func(m rawMsg) {
			if i, ok := at[m.subject]; ok {
				page[i].LastID = m.seq
			}
		})
		if err != nil && !errors.Is(err, errNoMessage) {
			return nil, err
		}
	}
	return infos, nil
}
