package sse

import (
	"bytes"
	"fmt"
	"io"
	"testing"
	"testing/iotest"
)

// decodeAll runs d to the end and returns what it produced.
func decodeAll(d *Decoder) (refResult, error) {
	var res refResult
	for {
		ev, err := d.Next()
		if err != nil {
			res.LastID = d.LastEventID()
			res.Retry, res.RetrySet = d.Retry()
			if err == io.EOF {
				err = nil
			}
			return res, err
		}
		res.Events = append(res.Events, ev)
	}
}

// chunks returns a reader that returns the given pieces one Read each.
func chunks(pieces ...[]byte) io.Reader {
	rs := make([]io.Reader, 0, len(pieces))
	for _, p := range pieces {
		rs = append(rs, bytes.NewReader(p))
	}
	return io.MultiReader(rs...)
}

// readers returns named ways of delivering in: whole, one byte per read,
// half reads, with the data and EOF together, and split into two reads at
// every byte position. Each is returned with a small and a default buffer.
func readers(in []byte) map[string]func() io.Reader {
	m := map[string]func() io.Reader{
		"whole":   func() io.Reader { return bytes.NewReader(in) },
		"onebyte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(in)) },
		"half":    func() io.Reader { return iotest.HalfReader(bytes.NewReader(in)) },
		"dataerr": func() io.Reader { return iotest.DataErrReader(bytes.NewReader(in)) },
	}
	for i := 1; i < len(in); i++ {
		m[fmt.Sprintf("split@%d", i)] = func() io.Reader { return chunks(in[:i], in[i:]) }
	}
	return m
}

// checkAllSplits decodes in every way readers offers, with the default and a
// 16-byte read buffer, and fails unless each gives want.
func checkAllSplits(t *testing.T, in []byte, want refResult) {
	t.Helper()
	for name, r := range readers(in) {
		for _, size := range []int{0, 16} {
			d := NewDecoder(r())
			d.bufSize = size
			got, err := decodeAll(d)
			if err != nil {
				t.Fatalf("%s/buf%d: error %v", name, size, err)
			}
			if !sameResult(got, want) {
				t.Fatalf("%s/buf%d: input %q\n got %+v\nwant %+v", name, size, in, show(got), show(want))
			}
		}
	}
}

func sameResult(a, b refResult) bool {
	if len(a.Events) != len(b.Events) || a.LastID != b.LastID || a.Retry != b.Retry || a.RetrySet != b.RetrySet {
		return false
	}
	for i := range a.Events {
		x, y := a.Events[i], b.Events[i]
		if x.ID != y.ID || x.Type != y.Type || !bytes.Equal(x.Data, y.Data) || x.Retry != y.Retry {
			return false
		}
	}
	return true
}

// show makes a result readable in failure messages.
func show(r refResult) string {
	s := ""
	for _, e := range r.Events {
		s += fmt.Sprintf("{id=%q type=%q data=%q retry=%v} ", e.ID, e.Type, e.Data, e.Retry)
	}
	return fmt.Sprintf("events[%s] lastID=%q retry=%v/%v", s, r.LastID, r.Retry, r.RetrySet)
}
