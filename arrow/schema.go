package arrow

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TopicKey is the schema metadata key that names the topic in a schema
// event, so that a stream carrying several Arrow topics tells them apart.
const TopicKey = "topic"

// Schema is one Arrow schema as the hub keeps it: the parsed schema, its
// canonical IPC encoding and the fingerprint of that encoding, which is the
// schema's identity (two schemas are the same when their fingerprints are).
// A Schema is immutable.
type Schema struct {
	// Fingerprint is the hex SHA-256 (first 16 bytes) of IPC.
	Fingerprint string
	// Arrow is the schema, with the metadata it was published with.
	Arrow *arrow.Schema
	// IPC is an Arrow IPC stream holding only the schema (a schema
	// message and the end-of-stream marker).
	IPC []byte
}

// FingerprintLen is the length of a Schema's Fingerprint.
const FingerprintLen = 32

// NewSchema returns the hub's Schema of s. Schema-level metadata is sorted
// by key first, so that the order in which a producer wrote it does not make
// another schema; everything else (field order, names, types, nullability,
// field metadata) is part of the identity.
func NewSchema(s *arrow.Schema) (*Schema, error) {
	if s == nil {
		return nil, fmt.Errorf("arrow: no schema")
	}
	s = withSortedMetadata(s)
	b, err := schemaStream(s)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	return &Schema{Fingerprint: hex.EncodeToString(sum[:FingerprintLen/2]), Arrow: s, IPC: b}, nil
}

// DecodeSchema reads the schema at the start of an Arrow IPC stream (a
// schema-only stream, or a whole stream: its record batches are not read).
func DecodeSchema(stream []byte) (s *Schema, err error) {
	defer recoverInvalid(&err)
	r, err := ipc.NewReader(bytes.NewReader(stream), ipc.WithAllocator(newBoundedAllocator(int64(len(stream))+1<<20)))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	defer r.Release()
	return NewSchema(r.Schema())
}

// WithTopic returns the IPC stream of s holding only the schema, its
// metadata extended with TopicKey = topic: the data of a schema event.
func (s *Schema) WithTopic(topic string) ([]byte, error) {
	md := s.Arrow.Metadata()
	keys, vals := make([]string, 0, md.Len()+1), make([]string, 0, md.Len()+1)
	for i, k := range md.Keys() {
		if k != TopicKey {
			keys, vals = append(keys, k), append(vals, md.Values()[i])
		}
	}
	keys, vals = append(keys, TopicKey), append(vals, topic)
	meta := arrow.NewMetadata(keys, vals)
	return schemaStream(arrow.NewSchemaWithEndian(s.Arrow.Fields(), &meta, s.Arrow.Endianness()))
}

// schemaStream writes an IPC stream holding only s.
func schemaStream(s *arrow.Schema) ([]byte, error) {
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(s), ipc.WithAllocator(memory.DefaultAllocator))
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("arrow: encode schema: %w", err)
	}
	return buf.Bytes(), nil
}

func withSortedMetadata(s *arrow.Schema) *arrow.Schema {
	md := s.Metadata()
	if md.Len() < 2 || sort.StringsAreSorted(md.Keys()) {
		return s
	}
	idx := make([]int, md.Len())
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return md.Keys()[idx[a]] < md.Keys()[idx[b]] })
	keys, vals := make([]string, len(idx)), make([]string, len(idx))
	for i, j := range idx {
		keys[i], vals[i] = md.Keys()[j], md.Values()[j]
	}
	meta := arrow.NewMetadata(keys, vals)
	return arrow.NewSchemaWithEndian(s.Fields(), &meta, s.Endianness())
}

// FieldJSON describes one field of a schema for the HTTP API.
type FieldJSON struct {
	Name     string            `json:"name"`
	Type     string            `json:"type"`
	Nullable bool              `json:"nullable"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// SchemaJSON describes a schema for the HTTP API (GET /api/topics/{topic}).
type SchemaJSON struct {
	Fingerprint string            `json:"fingerprint"`
	Fields      []FieldJSON       `json:"fields"`
	Metadata    map[string]string `json:"metadata,omitempty"`
}

// JSON returns the description of s for the HTTP API: each field's name,
// type (Arrow's own notation, e.g. "timestamp[ms, tz=UTC]"), nullability
// and metadata.
func (s *Schema) JSON() SchemaJSON {
	out := SchemaJSON{Fingerprint: s.Fingerprint, Fields: make([]FieldJSON, 0, s.Arrow.NumFields()), Metadata: metaMap(s.Arrow.Metadata())}
	for _, f := range s.Arrow.Fields() {
		out.Fields = append(out.Fields, FieldJSON{Name: f.Name, Type: f.Type.String(), Nullable: f.Nullable, Metadata: metaMap(f.Metadata)})
	}
	return out
}

func metaMap(md arrow.Metadata) map[string]string {
	if md.Len() == 0 {
		return nil
	}
	m := make(map[string]string, md.Len())
	for i, k := range md.Keys() {
		m[k] = md.Values()[i]
	}
	return m
}
