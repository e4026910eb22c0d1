package arrow

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/go-json-experiment/json/jsontext"
)

// RowError is a row of a JSON body that does not fit the schema: nothing of
// the body is stored. It wraps ErrInvalid.
type RowError struct {
	// Row is the 1-based position of the row in the array, or its line
	// number in NDJSON.
	Row int
	// Column names the column ("a.b" inside a struct), or is empty when
	// the row as a whole is wrong.
	Column string
	// Reason says what is wrong.
	Reason string
}

func (e *RowError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("row %d: %s", e.Row, e.Reason)
	}
	return fmt.Sprintf("row %d: column %q: %s", e.Row, e.Column, e.Reason)
}

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *RowError) Unwrap() error { return ErrInvalid }

// rows iterates the rows of a JSON body: a JSON array of objects, or NDJSON
// (one object a line; blank lines are skipped). next positions the decoder
// at a row's first token and returns its number, or 0 at the end.
type rows struct {
	ndjson bool
	body   []byte
	dec    *jsontext.Decoder
	n      int // the current row's number
	line   int // NDJSON: lines consumed
	rest   []byte
	began  bool
	br     bytes.Reader
}

func newRows(body []byte, ndjson bool) *rows {
	return &rows{ndjson: ndjson, body: body, rest: body}
}

func (r *rows) next() (int, error) {
	if r.ndjson {
		for len(r.rest) > 0 {
			i := bytes.IndexByte(r.rest, '\n')
			var line []byte
			if i < 0 {
				line, r.rest = r.rest, nil
			} else {
				line, r.rest = r.rest[:i], r.rest[i+1:]
			}
			r.line++
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			r.br.Reset(line)
			if r.dec == nil {
				r.dec = jsontext.NewDecoder(&r.br)
			} else {
				r.dec.Reset(&r.br)
			}
			r.n = r.line
			return r.n, nil
		}
		return 0, nil
	}
	if !r.began {
		r.began = true
		r.br.Reset(r.body)
		r.dec = jsontext.NewDecoder(&r.br)
		tok, err := r.dec.ReadToken()
		if err != nil {
			return 0, fmt.Errorf("%w: the body is not JSON: %v", ErrInvalid, err)
		}
		if tok.Kind() != '[' {
			return 0, fmt.Errorf("%w: application/json must be an array of row objects", ErrInvalid)
		}
	}
	if r.dec.PeekKind() == ']' {
		if _, err := r.dec.ReadToken(); err != nil {
			return 0, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		if _, err := r.dec.ReadToken(); err != io.EOF {
			return 0, fmt.Errorf("%w: data after the array", ErrInvalid)
		}
		return 0, nil
	}
	r.n++
	return r.n, nil
}

// done checks that an NDJSON line holds nothing after its row.
func (r *rows) done() error {
	if !r.ndjson {
		return nil
	}
	if _, err := r.dec.ReadToken(); err != io.EOF {
		return &RowError{Row: r.n, Reason: "a line holds one row object and nothing else"}
	}
	return nil
}

// FromJSON converts JSON rows to one Arrow record batch with schema s, or,
// when s is nil, with a schema inferred from the rows (see InferSchema).
// body is a JSON array of row objects, or with ndjson one row object a line.
// A row that does not fit is a *RowError naming the row and the column.
func FromJSON(body []byte, ndjson bool, s *Schema) (*Payload, error) {
	if s == nil {
		var err error
		if s, err = InferSchema(body, ndjson); err != nil {
			return nil, err
		}
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, s.Arrow)
	defer b.Release()
	cols := make([]column, s.Arrow.NumFields())
	index := make(map[string]int, len(cols))
	for i, f := range s.Arrow.Fields() {
		app, err := appenderFor(b.Field(i), f.Type, f.Name)
		if err != nil {
			return nil, err
		}
		cols[i] = column{name: f.Name, nullable: f.Nullable, b: b.Field(i), app: app}
		index[f.Name] = i
	}
	seen := make([]bool, len(cols))
	r := newRows(body, ndjson)
	n := 0
	for {
		row, err := r.next()
		if err != nil {
			return nil, err
		}
		if row == 0 {
			break
		}
		clear(seen)
		if err := readObject(r.dec, row, "", cols, index, seen); err != nil {
			return nil, err
		}
		if err := r.done(); err != nil {
			return nil, err
		}
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: the body holds no rows", ErrInvalid)
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	data, err := EncodeBatch(s.Arrow, rec)
	if err != nil {
		return nil, err
	}
	return &Payload{Schema: s, Batches: []Batch{{Data: data, Rows: rec.NumRows()}}}, nil
}

// column is one field being filled.
type column struct {
	name     string
	nullable bool
	b        array.Builder
	app      appender
}

// appender reads one non-null JSON value and appends it; it returns a
// reason when the value does not fit.
type appender func(dec *jsontext.Decoder, row int, path string) error

// readObject reads one JSON object into cols (the fields of a schema or a
// struct); fields it lacks are null.
func readObject(dec *jsontext.Decoder, row int, prefix string, cols []column, index map[string]int, seen []bool) error {
	tok, err := dec.ReadToken()
	if err != nil {
		return syntaxError(row, prefix, err)
	}
	if tok.Kind() != '{' {
		return &RowError{Row: row, Column: strings.TrimSuffix(prefix, "."), Reason: "want a JSON object, got " + kindName(tok.Kind())}
	}
	for dec.PeekKind() != '}' {
		name, err := dec.ReadToken()
		if err != nil {
			return syntaxError(row, prefix, err)
		}
		key := name.String()
		i, ok := index[key]
		if !ok {
			return &RowError{Row: row, Column: prefix + key, Reason: "is not in the topic's schema"}
		}
		seen[i] = true
		c := &cols[i]
		if dec.PeekKind() == 'n' {
			if _, err := dec.ReadToken(); err != nil {
				return syntaxError(row, prefix+key, err)
			}
			if !c.nullable {
				return &RowError{Row: row, Column: prefix + key, Reason: "null in a non-nullable column"}
			}
			c.b.AppendNull()
			continue
		}
		if err := c.app(dec, row, prefix+key); err != nil {
			return err
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return syntaxError(row, prefix, err)
	}
	for i := range cols {
		if !seen[i] {
			if !cols[i].nullable {
				return &RowError{Row: row, Column: prefix + cols[i].name, Reason: "missing, and the column is not nullable"}
			}
			cols[i].b.AppendNull()
		}
	}
	return nil
}

func syntaxError(row int, col string, err error) error {
	var se *jsontext.SyntacticError
	msg := err.Error()
	if errors.As(err, &se) && se.Err != nil {
		msg = se.Err.Error()
	}
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		msg = "unexpected end of the JSON"
	}
	return &RowError{Row: row, Column: strings.TrimSuffix(col, "."), Reason: "invalid JSON: " + msg}
}

func kindName(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	case '"':
		return "a string"
	case '0':
		return "a number"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "nothing"
}

// readScalar reads one token that must be of kind want ('t' for booleans).
func readScalar(dec *jsontext.Decoder, row int, path string, want jsontext.Kind, what string) (jsontext.Token, error) {
	k := dec.PeekKind()
	if k == '{' || k == '[' {
		return jsontext.Token{}, &RowError{Row: row, Column: path, Reason: "want " + what + ", got " + kindName(k)}
	}
	tok, err := dec.ReadToken()
	if err != nil {
		return tok, syntaxError(row, path, err)
	}
	got := tok.Kind()
	if got == 'f' {
		got = 't'
	}
	if got != want {
		return tok, &RowError{Row: row, Column: path, Reason: "want " + what + ", got " + kindName(tok.Kind())}
	}
	return tok, nil
}

// numberAppender returns the appender of a numeric column of type dt: a
// JSON number that parse accepts (want says what it must be, in errors),
// given to add.
func numberAppender[T any](dt arrow.DataType, want string, parse func(string) (T, error), add func(T)) appender {
	return func(dec *jsontext.Decoder, row int, p string) error {
		tok, err := readScalar(dec, row, p, '0', want)
		if err != nil {
			return err
		}
		v, err := parse(tok.String())
		if err != nil {
			return &RowError{Row: row, Column: p, Reason: fmt.Sprintf("want %s that fits %s, got %s", want, dt, tok.String())}
		}
		add(v)
		return nil
	}
}

// appenderFor returns how JSON values fill a builder of type dt; path
// names the column in errors about the type itself.
func appenderFor(b array.Builder, dt arrow.DataType, path string) (appender, error) {
	intApp := func(bits int, add func(int64)) appender {
		return numberAppender(dt, "an integer", func(s string) (int64, error) { return strconv.ParseInt(s, 10, bits) }, add)
	}
	uintApp := func(bits int, add func(uint64)) appender {
		return numberAppender(dt, "an integer", func(s string) (uint64, error) { return strconv.ParseUint(s, 10, bits) }, add)
	}
	floatApp := func(bits int, add func(float64)) appender {
		return numberAppender(dt, "a number", func(s string) (float64, error) { return strconv.ParseFloat(s, bits) }, add)
	}
	strApp := func(add func(string)) appender {
		return func(dec *jsontext.Decoder, row int, p string) error {
			tok, err := readScalar(dec, row, p, '"', "a string")
			if err != nil {
				return err
			}
			add(tok.String())
			return nil
		}
	}
	binApp := func(add func([]byte)) appender {
		return func(dec *jsontext.Decoder, row int, p string) error {
			tok, err := readScalar(dec, row, p, '"', "a base64 string")
			if err != nil {
				return err
			}
			v, err := base64.StdEncoding.DecodeString(tok.String())
			if err != nil {
				return &RowError{Row: row, Column: p, Reason: "want a base64 string: " + err.Error()}
			}
			add(v)
			return nil
		}
	}
	switch b := b.(type) {
	case *array.BooleanBuilder:
		return func(dec *jsontext.Decoder, row int, p string) error {
			tok, err := readScalar(dec, row, p, 't', "a boolean")
			if err != nil {
				return err
			}
			b.Append(tok.Bool())
			return nil
		}, nil
	case *array.Int8Builder:
		return intApp(8, func(v int64) { b.Append(int8(v)) }), nil
	case *array.Int16Builder:
		return intApp(16, func(v int64) { b.Append(int16(v)) }), nil
	case *array.Int32Builder:
		return intApp(32, func(v int64) { b.Append(int32(v)) }), nil
	case *array.Int64Builder:
		return intApp(64, b.Append), nil
	case *array.Uint8Builder:
		return uintApp(8, func(v uint64) { b.Append(uint8(v)) }), nil
	case *array.Uint16Builder:
		return uintApp(16, func(v uint64) { b.Append(uint16(v)) }), nil
	case *array.Uint32Builder:
		return uintApp(32, func(v uint64) { b.Append(uint32(v)) }), nil
	case *array.Uint64Builder:
		return uintApp(64, b.Append), nil
	case *array.Float32Builder:
		return floatApp(32, func(v float64) { b.Append(float32(v)) }), nil
	case *array.Float64Builder:
		return floatApp(64, b.Append), nil
	case *array.StringBuilder:
		return strApp(b.Append), nil
	case *array.LargeStringBuilder:
		return strApp(b.Append), nil
	case *array.BinaryBuilder:
		if dt.ID() == arrow.BINARY || dt.ID() == arrow.LARGE_BINARY {
			return binApp(b.Append), nil
		}
	case *array.TimestampBuilder:
		unit := dt.(*arrow.TimestampType).Unit
		return timeApp(func(t time.Time) { b.Append(arrow.Timestamp(toUnit(t, unit))) }, b.Append, func(v int64) arrow.Timestamp { return arrow.Timestamp(v) }, time.RFC3339Nano, "an RFC 3339 time or an integer"), nil
	case *array.Date32Builder:
		return timeApp(func(t time.Time) { b.Append(arrow.Date32FromTime(t)) }, b.Append, func(v int64) arrow.Date32 { return arrow.Date32(v) }, time.DateOnly, "a date (2006-01-02) or a number of days"), nil
	case *array.Date64Builder:
		return timeApp(func(t time.Time) { b.Append(arrow.Date64FromTime(t)) }, b.Append, func(v int64) arrow.Date64 { return arrow.Date64(v) }, time.DateOnly, "a date (2006-01-02) or milliseconds"), nil
	case *array.ListBuilder:
		elem, err := appenderFor(b.ValueBuilder(), dt.(*arrow.ListType).Elem(), path+"[]")
		if err != nil {
			return nil, err
		}
		return listApp(b.Append, b.ValueBuilder(), dt.(*arrow.ListType).ElemField().Nullable, elem), nil
	case *array.LargeListBuilder:
		elem, err := appenderFor(b.ValueBuilder(), dt.(*arrow.LargeListType).Elem(), path+"[]")
		if err != nil {
			return nil, err
		}
		return listApp(b.Append, b.ValueBuilder(), dt.(*arrow.LargeListType).ElemField().Nullable, elem), nil
	case *array.StructBuilder:
		st := dt.(*arrow.StructType)
		cols := make([]column, st.NumFields())
		index := make(map[string]int, len(cols))
		for i, f := range st.Fields() {
			app, err := appenderFor(b.FieldBuilder(i), f.Type, path+"."+f.Name)
			if err != nil {
				return nil, err
			}
			cols[i] = column{name: f.Name, nullable: f.Nullable, b: b.FieldBuilder(i), app: app}
			index[f.Name] = i
		}
		seen := make([]bool, len(cols))
		return func(dec *jsontext.Decoder, row int, p string) error {
			if k := dec.PeekKind(); k != '{' {
				return &RowError{Row: row, Column: p, Reason: "want an object, got " + kindName(k)}
			}
			b.Append(true)
			clear(seen)
			return readObject(dec, row, p+".", cols, index, seen)
		}, nil
	}
	return nil, fmt.Errorf("%w: column %q has type %s, which JSON rows cannot fill; ingest Arrow IPC (%s) instead", ErrInvalid, path, dt, MediaType)
}

// timeApp fills a temporal builder from a string in layout or an integer
// in the type's own unit.
func timeApp[T any](fromTime func(time.Time), add func(T), fromInt func(int64) T, layout, what string) appender {
	return func(dec *jsontext.Decoder, row int, p string) error {
		k := dec.PeekKind()
		if k != '"' && k != '0' {
			return &RowError{Row: row, Column: p, Reason: "want " + what + ", got " + kindName(k)}
		}
		tok, err := dec.ReadToken()
		if err != nil {
			return syntaxError(row, p, err)
		}
		if k == '0' {
			v, err := strconv.ParseInt(tok.String(), 10, 64)
			if err != nil {
				return &RowError{Row: row, Column: p, Reason: "want " + what + ", got " + tok.String()}
			}
			add(fromInt(v))
			return nil
		}
		t, err := time.Parse(layout, tok.String())
		if err != nil {
			return &RowError{Row: row, Column: p, Reason: fmt.Sprintf("want %s, got %q", what, tok.String())}
		}
		fromTime(t)
		return nil
	}
}

func toUnit(t time.Time, u arrow.TimeUnit) int64 {
	switch u {
	case arrow.Second:
		return t.Unix()
	case arrow.Millisecond:
		return t.UnixMilli()
	case arrow.Microsecond:
		return t.UnixMicro()
	}
	return t.UnixNano()
}

func listApp(start func(bool), vb array.Builder, elemNullable bool, elem appender) appender {
	return func(dec *jsontext.Decoder, row int, p string) error {
		if k := dec.PeekKind(); k != '[' {
			return &RowError{Row: row, Column: p, Reason: "want an array, got " + kindName(k)}
		}
		if _, err := dec.ReadToken(); err != nil {
			return syntaxError(row, p, err)
		}
		start(true)
		for dec.PeekKind() != ']' {
			if dec.PeekKind() == 'n' {
				if _, err := dec.ReadToken(); err != nil {
					return syntaxError(row, p, err)
				}
				if !elemNullable {
					return &RowError{Row: row, Column: p, Reason: "null element in a list of non-nullable values"}
				}
				vb.AppendNull()
				continue
			}
			if dec.PeekKind() == 0 {
				_, err := dec.ReadToken()
				return syntaxError(row, p, err)
			}
			if err := elem(dec, row, p); err != nil {
				return err
			}
		}
		if _, err := dec.ReadToken(); err != nil {
			return syntaxError(row, p, err)
		}
		return nil
	}
}

// InferSchema infers the schema of JSON rows (a topic's first ingest as
// JSON). It reads every row of the body:
//
//   - columns are the rows' keys, in the order they first appear;
//   - true/false is bool; a number is int64 when every value of the column
//     is an integer that fits, else float64; a string is utf8 (strings are
//     never parsed as times or numbers);
//   - every column is nullable: a row without the key, or with null, has a
//     null there; a column that is null in every row is utf8;
//   - a nested value (an object or an array) is not inferred, and a column
//     whose values are of different kinds (a string and a number) is an
//     error naming the first row that disagrees. Ingest Arrow IPC first to
//     give a topic a schema with nested or other types.
func InferSchema(body []byte, ndjson bool) (*Schema, error) {
	type col struct {
		name string
		kind byte // 0 null only, 'b' bool, 'i' int64, 'f' float64, 's' utf8
	}
	var cols []*col
	byName := map[string]*col{}
	r := newRows(body, ndjson)
	n := 0
	for {
		row, err := r.next()
		if err != nil {
			return nil, err
		}
		if row == 0 {
			break
		}
		n++
		tok, err := r.dec.ReadToken()
		if err != nil {
			return nil, syntaxError(row, "", err)
		}
		if tok.Kind() != '{' {
			return nil, &RowError{Row: row, Reason: "want a JSON object, got " + kindName(tok.Kind())}
		}
		for r.dec.PeekKind() != '}' {
			name, err := r.dec.ReadToken()
			if err != nil {
				return nil, syntaxError(row, "", err)
			}
			key := name.String()
			c := byName[key]
			if c == nil {
				c = &col{name: key}
				byName[key] = c
				cols = append(cols, c)
			}
			k := r.dec.PeekKind()
			if k == '{' || k == '[' {
				return nil, &RowError{Row: row, Column: key, Reason: "nested values are not inferred: ingest Arrow IPC to give the topic its schema first"}
			}
			v, err := r.dec.ReadToken()
			if err != nil {
				return nil, syntaxError(row, key, err)
			}
			var got byte
			switch v.Kind() {
			case 'n':
				continue
			case 't', 'f':
				got = 'b'
			case '"':
				got = 's'
			case '0':
				got = 'f'
				if s := v.String(); !strings.ContainsAny(s, ".eE") {
					if _, err := strconv.ParseInt(s, 10, 64); err == nil {
						got = 'i'
					}
				}
			}
			switch {
			case c.kind == 0 || c.kind == got:
				c.kind = got
			case (c.kind == 'i' && got == 'f') || (c.kind == 'f' && got == 'i'):
				c.kind = 'f'
			default:
				names := map[byte]string{'b': "booleans", 'i': "numbers", 'f': "numbers", 's': "strings"}
				return nil, &RowError{Row: row, Column: key, Reason: fmt.Sprintf("%s after %s in earlier rows: a column holds one kind of value", kindName(v.Kind()), names[c.kind])}
			}
		}
		if _, err := r.dec.ReadToken(); err != nil {
			return nil, syntaxError(row, "", err)
		}
		if err := r.done(); err != nil {
			return nil, err
		}
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: the body holds no rows", ErrInvalid)
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("%w: the rows have no columns", ErrInvalid)
	}
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		var dt arrow.DataType
		switch c.kind {
		case 'b':
			dt = arrow.FixedWidthTypes.Boolean
		case 'i':
			dt = arrow.PrimitiveTypes.Int64
		case 'f':
			dt = arrow.PrimitiveTypes.Float64
		default:
			dt = arrow.BinaryTypes.String
		}
		fields[i] = arrow.Field{Name: c.name, Type: dt, Nullable: true}
	}
	return NewSchema(arrow.NewSchema(fields, nil))
}
