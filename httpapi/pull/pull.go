// Package pull serves delivery with confirmation, Inboxclaw's http_pull
// sink: GET /{name}/extract hands out the oldest events a client has not
// confirmed as a batch, POST /{name}/mark-processed?batch_id=N confirms a
// batch, and the events of a batch that is not confirmed within its lease
// go out again with a later extract.
//
//	GET  /{name}/extract?event_type=P&batch_size=N
//	  → {"batch_id":7,"events":[envelope…],"remaining_events":42}
//	POST /{name}/mark-processed?batch_id=7
//	  → {"status":"ok","marked_count":10}
//
// An endpoint's position (its cursor, its open batches and their leases)
// is one value in the store's KV, rewritten atomically by every extract and
// every confirmation before the client is answered: after a crash nothing
// that was confirmed comes back and nothing that was not is lost. One
// mutex per endpoint serializes extracts and confirmations, so two
// concurrent extractors never get the same event in two live batches.
//
// The package also registers the "inboxclaw" output format: the envelope
// with Inboxclaw's bytes (see envelope.Inboxclaw), which Inboxclaw's SSE
// sinks stream.
package pull

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/envelope"
	"github.com/ssehub/ssehub/format"
	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/sse"
)

// Bucket is the KV bucket the endpoints' states live in, one key per
// endpoint name.
const Bucket = "pull"

// Endpoint configures one pull endpoint.
type Endpoint struct {
	// Name keys the endpoint's state; ExtractPath and ConfirmPath are its
	// two URL paths, e.g. "/accounting/extract".
	Name, ExtractPath, ConfirmPath string
	// Match bounds the events it delivers; ?event_type= narrows it.
	Match ssehub.Filter
	// Lease is how long a batch stays out before its events go out again.
	// Default 30 s.
	Lease time.Duration
	// BatchSize is a batch's size without ?batch_size= (default 100);
	// MaxBatchSize bounds ?batch_size= (default 1000; 400 past it).
	BatchSize, MaxBatchSize int
	// Public endpoints need no token (Inboxclaw's sinks have none); others
	// need a token of purpose stream whose scope covers what is extracted.
	Public bool
	// Style is how each event's envelope is written in the response.
	Style envelope.Style
}

// Options configure the feature.
type Options struct {
	Endpoints []Endpoint
	// MaxOpenBatches bounds one endpoint's unconfirmed batches; an extract
	// past it gets 429 with Retry-After (when the oldest lease ends).
	// Default 256.
	MaxOpenBatches int
	// MaxBatchBytes bounds the envelopes of one response; a batch ends
	// early past it (it holds one event at least). Default 4 MiB.
	MaxBatchBytes int
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Feature serves the pull endpoints; create it with New.
type Feature struct {
	opts Options
	s    *httpapi.Server
	eps  []*endpoint

	extracted, confirmed, lost prometheus.Counter
}

// New returns the feature for opts.
func New(opts Options) *Feature {
	if opts.MaxOpenBatches <= 0 {
		opts.MaxOpenBatches = 256
	}
	if opts.MaxBatchBytes <= 0 {
		opts.MaxBatchBytes = 4 << 20
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	f := &Feature{opts: opts}
	for _, e := range opts.Endpoints {
		if e.Lease <= 0 {
			e.Lease = 30 * time.Second
		}
		if e.MaxBatchSize <= 0 {
			e.MaxBatchSize = max(1000, e.BatchSize)
		}
		if e.BatchSize <= 0 {
			e.BatchSize = min(100, e.MaxBatchSize)
		}
		f.eps = append(f.eps, &endpoint{f: f, cfg: e, counts: map[string]*count{}})
	}
	return f
}

// Register implements httpapi.Feature: it loads each endpoint's state from
// the store's KV and adds its two routes.
func (f *Feature) Register(s *httpapi.Server) error {
	f.s = s
	f.extracted = prometheus.NewCounter(prometheus.CounterOpts{Name: "ssehub_pull_extracted_total", Help: "Events handed out by pull endpoints (again after an expired lease too)."})
	f.confirmed = prometheus.NewCounter(prometheus.CounterOpts{Name: "ssehub_pull_confirmed_total", Help: "Events confirmed at pull endpoints."})
	f.lost = prometheus.NewCounter(prometheus.CounterOpts{Name: "ssehub_pull_lost_total", Help: "Unconfirmed events of pull endpoints that retention removed before they went out again."})
	if reg := s.Registerer(); reg != nil {
		reg.MustRegister(f.extracted, f.confirmed, f.lost)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, e := range f.eps {
		if err := e.load(ctx, s.Hub().Store()); err != nil {
			return err
		}
		s.Route(e.cfg.ExtractPath, httpapi.Methods{"GET": e.handleExtract})
		s.Route(e.cfg.ConfirmPath, httpapi.Methods{"POST": e.handleConfirm})
	}
	return nil
}

// endpoint is one pull endpoint's live state.
type endpoint struct {
	f   *Feature
	cfg Endpoint

	mu     sync.Mutex
	kv     ssehub.KV
	st     *state
	idx    index
	counts map[string]*count // by filter, for remaining_events
}

func (e *endpoint) load(ctx context.Context, kv ssehub.KV) error {
	e.kv = kv
	b, err := kv.Get(ctx, Bucket, e.cfg.Name)
	switch {
	case errors.Is(err, ssehub.ErrNotFound):
		e.st = &state{}
	case err != nil:
		return fmt.Errorf("pull %s: load its state: %w", e.cfg.Name, err)
	default:
		if e.st, err = decodeState(b); err != nil {
			return fmt.Errorf("pull %s: load its state: %w", e.cfg.Name, err)
		}
	}
	e.idx = e.st.index()
	return nil
}

// save stores st durably and makes it the endpoint's state; e.mu is held.
// It goes on when the client goes away, so that the state stays whole.
func (e *endpoint) save(ctx context.Context, st *state) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := e.kv.Put(ctx, Bucket, e.cfg.Name, st.encode()); err != nil {
		return err
	}
	e.st, e.idx = st, st.index()
	return nil
}

// authorize checks a request against the endpoint's access and returns the
// filter it may act on: the endpoint's match narrowed by ?event_type=.
func (e *endpoint) authorize(w http.ResponseWriter, r *http.Request) (ssehub.Filter, bool) {
	f := e.cfg.Match
	narrow, n, err := e.f.s.ParseQueryFilter(r.URL.Query()["event_type"])
	if err != nil {
		httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadPattern, err.Error())
		return f, false
	}
	if n > 0 {
		f = f.Intersect(narrow)
	}
	if !e.cfg.Public {
		who, ok := e.f.s.Authenticate(w, r)
		if !ok || !e.f.s.Permit(w, who, auth.PurposeStream, e.cfg.Match) {
			return f, false
		}
	}
	return f, true
}

var errBatchFull = errors.New("batch full")

// handleExtract serves GET /{name}/extract?event_type=P&batch_size=N.
func (e *endpoint) handleExtract(w http.ResponseWriter, r *http.Request) {
	f, ok := e.authorize(w, r)
	if !ok {
		return
	}
	size := e.cfg.BatchSize
	if v := r.URL.Query().Get("batch_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > e.cfg.MaxBatchSize {
			httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadRequest,
				fmt.Sprintf("batch_size must be a number from 1 to %d (max_batch_size)", e.cfg.MaxBatchSize))
			return
		}
		size = n
	}
	if r.Method == http.MethodHead {
		// GET routes answer HEAD, but a HEAD (a monitor's probe) must
		// not hand out a batch whose id nobody can read: its events would
		// wait out the lease, and probes would fill the open batches.
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		return
	}
	out, err := e.extract(r.Context(), f, size)
	var busy *busyError
	switch {
	case errors.As(err, &busy):
		w.Header().Set("Retry-After", strconv.Itoa(busy.retry))
		httpapi.WriteError(w, http.StatusTooManyRequests, httpapi.CodeRateLimited, busy.Error())
		return
	case err != nil:
		e.f.s.Logger().Error("pull extract", "endpoint", e.cfg.Name, "err", err)
		httpapi.WriteError(w, http.StatusServiceUnavailable, httpapi.CodeUnavailable, "the store cannot serve this extract now; nothing was handed out, retry")
		return
	}
	writeBody(w, out)
}

// handleConfirm serves POST /{name}/mark-processed?batch_id=N.
func (e *endpoint) handleConfirm(w http.ResponseWriter, r *http.Request) {
	if _, ok := e.authorize(w, r); !ok {
		return
	}
	vs := r.URL.Query()["batch_id"]
	if len(vs) > 1 {
		// Only one would be confirmed, and the answer would not say which.
		httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadRequest, fmt.Sprintf("batch_id is given %d times: confirm one batch a request", len(vs)))
		return
	}
	v := r.URL.Query().Get("batch_id")
	id, err := strconv.ParseUint(v, 10, 64)
	if err != nil || id == 0 {
		httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadRequest, fmt.Sprintf("batch_id %.40q is not a batch id (a positive number from an extract)", v))
		return
	}
	n, err := e.confirm(r.Context(), id)
	switch {
	case errors.Is(err, ssehub.ErrNotFound):
		httpapi.WriteError(w, http.StatusNotFound, httpapi.CodeNotFound, fmt.Sprintf("batch %d is unknown or already confirmed", id))
		return
	case err != nil:
		e.f.s.Logger().Error("pull confirm", "endpoint", e.cfg.Name, "err", err)
		httpapi.WriteError(w, http.StatusServiceUnavailable, httpapi.CodeUnavailable, "the store cannot record the confirmation now; retry")
		return
	}
	b := append([]byte(`{"status":"ok","marked_count":`), strconv.Itoa(n)...)
	writeBody(w, append(b, "}\n"...))
}

// busyError is an extract refused because too many batches are open.
type busyError struct {
	open, retry int
}

func (b *busyError) Error() string {
	return fmt.Sprintf("%d batches are unconfirmed, the most one endpoint keeps: confirm batches, or wait for their leases to end", b.open)
}

// extract hands out up to size events that f matches, oldest first, and
// returns the response body.
func (e *endpoint) extract(ctx context.Context, f ssehub.Filter, size int) ([]byte, error) {
	h := e.f.s.Hub()
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.f.opts.Now()
	nowMS := now.UnixMilli()
	old := e.st
	live := 0
	for _, b := range old.Batches {
		if b.Expires > nowMS {
			live++
		}
	}
	if live >= e.f.opts.MaxOpenBatches {
		oldest := int64(-1)
		for _, b := range old.Batches {
			if b.Expires > nowMS && (oldest < 0 || b.Expires < oldest) {
				oldest = b.Expires
			}
		}
		return nil, &busyError{open: live, retry: int((oldest-nowMS)/1000) + 1}
	}
	pos, err := h.Bounds(ctx)
	if err != nil {
		return nil, err
	}
	st := old.clone()
	lost := e.dropRemoved(st, pos, nowMS)

	// One read from the oldest event that may go out (an expired batch's,
	// or the first after the cursor), in id order: events of expired
	// batches and new events that f matches are taken; the cursor moves
	// over every event that is handed out (or taken now) until the first
	// new event left behind (one f does not match).
	start := st.Cursor
	for _, b := range st.Batches {
		if b.Expires <= nowMS && len(b.Events) > 0 {
			start = min(start, b.Events[0].ID-1)
		}
	}
	evs := make([]byte, 0, 4096) // the events' envelopes, comma-separated
	var picks []ref
	taken := map[uint64]bool{}
	cursor, hole, bytes, last := st.Cursor, false, 0, uint64(0)
	full := false
	err = h.History(ctx, start, e.cfg.Match, func(ev *ssehub.Event) error {
		id := ev.ID
		b, owned := e.idx.owner[id]
		expired := owned && b.Expires <= nowMS
		_, done := e.idx.done[id]
		take := f.Match(ev.Topic) && (expired || (id > st.Cursor && !owned && !done))
		if take {
			if len(picks) > 0 && bytes+len(ev.Data)+256 > e.f.opts.MaxBatchBytes {
				full = true
				return errBatchFull
			}
			if len(picks) > 0 {
				evs = append(evs, ',')
			}
			n0 := len(evs)
			evs = envelope.AppendStyle(evs, ev, e.cfg.Style)
			bytes += len(evs) - n0
			picks = append(picks, ref{ID: id, Topic: strings.Clone(ev.Topic)})
			taken[id] = true
		}
		last = id
		if id > st.Cursor && !hole {
			if take || owned || done {
				cursor = id
			} else {
				hole = true
			}
		}
		if len(picks) == size {
			full = true
			return errBatchFull
		}
		return nil
	})
	if err != nil && !errors.Is(err, errBatchFull) {
		return nil, err
	}
	if !full {
		last = max(last, pos.Head) // everything up to the head was read
		if !hole {
			cursor = max(cursor, pos.Head)
		}
	}
	st.Cursor = cursor

	// The events taken leave their expired batches; emptied ones go.
	kept := st.Batches[:0]
	for _, b := range st.Batches {
		if b.Expires <= nowMS && len(picks) > 0 {
			var rest []ref
			for _, r := range b.Events {
				if !taken[r.ID] {
					rest = append(rest, r)
				}
			}
			if len(rest) == 0 {
				continue
			}
			if len(rest) != len(b.Events) {
				b = &batch{ID: b.ID, Expires: b.Expires, Events: rest}
			}
		}
		kept = append(kept, b)
	}
	st.Batches = kept
	var batchID uint64
	if len(picks) > 0 {
		st.LastBatch++
		batchID = st.LastBatch
		st.Batches = append(st.Batches, &batch{ID: batchID, Expires: now.Add(e.cfg.Lease).UnixMilli(), Events: picks})
	}
	for len(st.Done) > 0 && st.Done[0].ID <= st.Cursor {
		st.Done = st.Done[1:]
	}
	if len(picks) > 0 || st.Cursor != old.Cursor || lost > 0 || len(st.Done) != len(old.Done) {
		if err := e.save(ctx, st); err != nil {
			return nil, err
		}
	}
	e.f.extracted.Add(float64(len(picks)))
	if lost > 0 {
		e.f.lost.Add(float64(lost))
		e.f.s.Logger().Warn("pull: retention removed unconfirmed events before they went out again", "endpoint", e.cfg.Name, "events", lost)
	}

	remaining, err := e.remaining(ctx, f, last, pos, nowMS)
	if err != nil {
		return nil, err
	}
	body := make([]byte, 0, len(evs)+96)
	body = append(body, `{"batch_id":`...)
	if batchID == 0 {
		body = append(body, "null"...)
	} else {
		body = strconv.AppendUint(body, batchID, 10)
	}
	body = append(body, `,"events":[`...)
	body = append(body, evs...)
	body = append(body, `],"remaining_events":`...)
	body = strconv.AppendInt(body, remaining, 10)
	if lost > 0 {
		body = append(body, `,"lost_events":`...)
		body = strconv.AppendUint(body, lost, 10)
	}
	return append(body, "}\n"...), nil
}

// dropRemoved takes out of st the events of expired batches that retention
// removed (they can never go out again) and returns how many; with every
// event up to the cursor removed, the cursor follows the oldest retained.
func (e *endpoint) dropRemoved(st *state, pos ssehub.Position, nowMS int64) uint64 {
	if pos.First <= 1 {
		return 0
	}
	var lost uint64
	kept := st.Batches[:0]
	for _, b := range st.Batches {
		if b.Expires <= nowMS && len(b.Events) > 0 && b.Events[0].ID < pos.First {
			var rest []ref
			for _, r := range b.Events {
				if r.ID >= pos.First {
					rest = append(rest, r)
				} else {
					lost++
				}
			}
			if len(rest) == 0 {
				continue
			}
			b = &batch{ID: b.ID, Expires: b.Expires, Events: rest}
		}
		kept = append(kept, b)
	}
	st.Batches = kept
	if st.Cursor+1 < pos.First {
		// New events were removed before anyone extracted them: nothing
		// counts them any more; the gap is logged.
		e.f.s.Logger().Warn("pull: retention removed events before they were extracted", "endpoint", e.cfg.Name,
			"after", st.Cursor, "oldest_retained", pos.First)
		st.Cursor = pos.First - 1
	}
	st.Lost += lost
	return lost
}

// confirm marks batch id processed and returns how many events it held.
func (e *endpoint) confirm(ctx context.Context, id uint64) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	i, b := e.st.batch(id)
	if b == nil {
		return 0, ssehub.ErrNotFound
	}
	st := e.st.clone()
	st.Batches = append(st.Batches[:i], st.Batches[i+1:]...)
	var ahead []ref
	for _, r := range b.Events {
		if r.ID > st.Cursor {
			ahead = append(ahead, r)
		}
	}
	if len(ahead) > 0 {
		st.Done = mergeRefs(st.Done, ahead)
	}
	if err := e.save(ctx, st); err != nil {
		return 0, err
	}
	e.f.confirmed.Add(float64(len(b.Events)))
	return len(b.Events), nil
}

// mergeRefs merges two id-ordered lists.
func mergeRefs(a, b []ref) []ref {
	out := make([]ref, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if a[0].ID < b[0].ID {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return append(append(out, a...), b...)
}

func writeBody(w http.ResponseWriter, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

// Format is the "inboxclaw" output format: "event: message", the event's
// id, and its envelope in Inboxclaw's bytes (envelope.Inboxclaw).
var Format format.Format = inboxclawFormat{}

func init() { format.MustRegister(Format) }

type inboxclawFormat struct{}

func (inboxclawFormat) Name() string { return "inboxclaw" }

func (inboxclawFormat) Encode(dst []byte, ev *ssehub.Event, id string) []byte {
	data := envelope.AppendStyle(make([]byte, 0, 256+len(ev.Data)), ev, envelope.Inboxclaw)
	out, err := sse.AppendEvent(dst, &sse.Event{ID: id, Type: "message", Data: data})
	if err != nil { // an id a store returned corrupt: keep the event
		out, _ = sse.AppendEvent(dst, &sse.Event{Type: "message", Data: data})
	}
	return out
}
