// Package arrowclient reads Arrow record batches from an SSE stream in
// BoilStream's format (ssehub's "arrow" format: GET /stream/{token}, or a
// stream with format: arrow) and ingests them (POST /ingest/{token}).
//
// A [Stream] is a reconnecting EventSource (package client) that decodes
// each "batch" event on its own — the event is an IPC stream of the schema
// and the batch — and reports the topic named by the "schema" event before
// it. Reconnection resumes after the last batch with Last-Event-ID, and
// the hub sends a fresh schema first, so nothing is lost or doubled.
package arrowclient

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/ssehub/ssehub/client"
)

// TopicKey is the schema metadata key that names a schema event's topic.
const TopicKey = "topic"

// MediaType is the Content-Type of an Arrow IPC stream.
const MediaType = "application/vnd.apache.arrow.stream"

// Batch is one record batch of the stream.
type Batch struct {
	// ID is the batch event's id (its Last-Event-ID).
	ID string
	// Topic is the topic named by the schema event before the batch, ""
	// if the server names none.
	Topic string
	// Record is the decoded batch; the caller must Release it.
	Record arrow.RecordBatch
}

// Stream reads the batches of one SSE stream. Use it from one goroutine.
type Stream struct {
	c       *client.Client
	mem     memory.Allocator
	schema  *arrow.Schema
	topic   string
	pending []arrow.RecordBatch
	id      string
	schemas int
}

// New returns a stream of the events at url (for example
// https://hub:8080/stream/<token>); opts configure its client.
func New(url string, opts ...client.Option) *Stream { return Wrap(client.New(url, opts...)) }

// Wrap returns a stream reading from c.
func Wrap(c *client.Client) *Stream { return &Stream{c: c, mem: memory.DefaultAllocator} }

// Client returns the underlying EventSource client.
func (s *Stream) Client() *client.Client { return s.c }

// Schema returns the schema of the last schema event, or nil.
func (s *Stream) Schema() *arrow.Schema { return s.schema }

// Schemas returns how many schema events the stream has received (one at
// every connection, and one at every schema change).
func (s *Stream) Schemas() int { return s.schemas }

// Close stops the stream; pending batches are released.
func (s *Stream) Close() error {
	for _, r := range s.pending {
		r.Release()
	}
	s.pending = nil
	return s.c.Close()
}

// Next returns the next batch, reading and decoding events as needed; it
// skips heartbeats and events of other types. Its errors are the client's
// (see client.Client.Next) and those of a batch or schema that does not
// decode.
func (s *Stream) Next(ctx context.Context) (Batch, error) {
	for len(s.pending) == 0 {
		ev, err := s.c.Next(ctx)
		if err != nil {
			return Batch{}, err
		}
		switch ev.Type {
		case "schema":
			sc, err := DecodeSchema(ev.Data)
			if err != nil {
				return Batch{}, err
			}
			s.schema, s.schemas = sc, s.schemas+1
			s.topic, _ = sc.Metadata().GetValue(TopicKey)
		case "batch":
			recs, err := DecodeBatch(ev.Data, s.mem)
			if err != nil {
				return Batch{}, fmt.Errorf("arrowclient: batch %s: %w", ev.ID, err)
			}
			s.pending, s.id = recs, ev.ID
		}
	}
	rec := s.pending[0]
	s.pending = s.pending[1:]
	return Batch{ID: s.id, Topic: s.topic, Record: rec}, nil
}

// Batches ranges over the stream's batches until an error, which it yields
// last; the caller releases each Record.
func (s *Stream) Batches(ctx context.Context) iter.Seq2[Batch, error] {
	return func(yield func(Batch, error) bool) {
		for {
			b, err := s.Next(ctx)
			if !yield(b, err) || err != nil {
				if err == nil {
					b.Record.Release()
				}
				return
			}
		}
	}
}

// DecodeSchema decodes the data of a schema event: base64 of an IPC stream
// holding the schema.
func DecodeSchema(data []byte) (*arrow.Schema, error) {
	raw, err := base64.StdEncoding.AppendDecode(nil, data)
	if err != nil {
		return nil, fmt.Errorf("arrowclient: schema: not base64: %w", err)
	}
	r, err := ipc.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("arrowclient: schema: %w", err)
	}
	defer r.Release()
	return r.Schema(), nil
}

// DecodeBatch decodes the data of a batch event on its own: base64 of an
// IPC stream of the schema and its record batches (one, from ssehub). The
// caller releases the records.
func DecodeBatch(data []byte, mem memory.Allocator) ([]arrow.RecordBatch, error) {
	raw, err := base64.StdEncoding.AppendDecode(nil, data)
	if err != nil {
		return nil, fmt.Errorf("not base64: %w", err)
	}
	r, err := ipc.NewReader(bytes.NewReader(raw), ipc.WithAllocator(mem))
	if err != nil {
		return nil, err
	}
	defer r.Release()
	var out []arrow.RecordBatch
	for r.Next() {
		rec := r.RecordBatch()
		rec.Retain()
		out = append(out, rec)
	}
	if err := r.Err(); err != nil {
		for _, rec := range out {
			rec.Release()
		}
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("the batch event holds no record batch")
	}
	return out, nil
}

// Result is the answer to an ingest.
type Result struct {
	// ID is the event id of the (last) batch stored.
	ID string `json:"id"`
	// Rows is the rows stored.
	Rows int64 `json:"rows"`
	// Duplicate reports an ingest with a key seen before: nothing new was
	// stored.
	Duplicate bool `json:"duplicate"`
}

// Error is an ingest the hub refused.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("arrowclient: ingest: HTTP %d %s: %s", e.Status, e.Code, e.Message)
}

// Ingest posts recs as one IPC stream to url (https://hub:8080/ingest/<token>,
// with ?topic= when the token has several topics) and returns once the hub
// stored them. hc nil means http.DefaultClient. A refused ingest is an
// *Error.
func Ingest(ctx context.Context, hc *http.Client, url string, recs ...arrow.RecordBatch) (Result, error) {
	if len(recs) == 0 {
		return Result{}, errors.New("arrowclient: ingest: no record batch")
	}
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(recs[0].Schema()))
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			return Result{}, fmt.Errorf("arrowclient: ingest: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return Result{}, fmt.Errorf("arrowclient: ingest: %w", err)
	}
	return Post(ctx, hc, url, MediaType, buf.Bytes())
}

// Post sends an ingest body of content type ct (MediaType,
// application/json or application/x-ndjson) to url.
func Post(ctx context.Context, hc *http.Client, url, ct string, body []byte) (Result, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return Result{}, fmt.Errorf("arrowclient: ingest: %w", err)
	}
	req.Header.Set("Content-Type", ct)
	resp, err := hc.Do(req)
	if err != nil {
		return Result{}, fmt.Errorf("arrowclient: ingest: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Result{}, fmt.Errorf("arrowclient: ingest: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		return Result{}, &Error{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
	}
	var res Result
	if err := json.Unmarshal(b, &res); err != nil {
		return Result{}, fmt.Errorf("arrowclient: ingest: bad answer %q: %w", b, err)
	}
	return res, nil
}
