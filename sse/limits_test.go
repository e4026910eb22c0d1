package sse

import (
	"bytes"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"
)

func TestMaxEventSize(t *testing.T) {
	cases := []struct {
		name string
		max  int
		in   string
		ok   bool
	}{
		{"data at limit", 10, "data: 012345678\n\n", true}, // 9 bytes + LF
		{"data over limit", 10, "data: 0123456789\n\n", false},
		{"lines add up", 10, "data: 01234\ndata: 4567\n\n", false}, // 6 + 5 bytes
		{"type counts", 10, "event: 01234\ndata: 0123\n\n", true},
		{"type over", 10, "event: 012345\ndata: 0123\n\n", false},
		{"id counts", 10, "id: 01234\ndata: 0123\n\n", true},
		{"id over", 10, "id: 012345\ndata: 0123\n\n", false},
		{"limit is per event", 10, "data: 01234567\n\ndata: 01234567\n\n", true},
		{"replacement characters count", 10, "data: \xFF\xFF\xFF\n\n", true},
		{"replacement characters expand", 10, "data: \xFF\xFF\xFF\xFF\n\n", false}, // 12 bytes decoded
		{"comments do not count", 10, ": " + strings.Repeat("c", 1000) + "\ndata: x\n\n", true},
		{"unknown fields do not count", 10, "foo: " + strings.Repeat("c", 1000) + "\ndata: x\n\n", true},
		{"long retry does not count", 10, "retry: " + strings.Repeat("1", 1000) + "\ndata: x\n\n", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, size := range []int{0, 16} {
				d := NewDecoder(strings.NewReader(c.in))
				d.MaxEventSize = c.max
				d.bufSize = size
				_, err := decodeAll(d)
				if c.ok && err != nil {
					t.Fatalf("buf%d: unexpected error %v", size, err)
				}
				if !c.ok {
					if !errors.Is(err, ErrEventTooLarge) {
						t.Fatalf("buf%d: error = %v, want ErrEventTooLarge", size, err)
					}
					if _, err2 := d.Next(); !errors.Is(err2, ErrEventTooLarge) {
						t.Fatalf("buf%d: error not sticky: %v", size, err2)
					}
				}
			}
		})
	}
}

func TestDefaultMaxEventSize(t *testing.T) {
	big := bytes.Repeat([]byte("x"), DefaultMaxEventSize)
	in := append(append([]byte("data: "), big...), "\n\n"...)
	d := NewDecoder(bytes.NewReader(in))
	if _, err := d.Next(); !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("16 MiB + LF: error = %v, want ErrEventTooLarge", err)
	}
	in = append(append([]byte("data: "), big[1:]...), "\n\n"...)
	d = NewDecoder(bytes.NewReader(in))
	e, err := d.Next()
	if err != nil || len(e.Data) != DefaultMaxEventSize-1 {
		t.Fatalf("16 MiB - 1: len %d, error %v", len(e.Data), err)
	}
}

// countingReader serves n bytes of one byte without holding them.
type repeatReader struct {
	c byte
	n int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	p = p[:min(len(p), r.n)]
	for i := range p {
		p[i] = r.c
	}
	r.n -= len(p)
	return len(p), nil
}

func TestHugeCommentUsesNoMemory(t *testing.T) {
	// 64 MiB of comment and of an unknown field, with a 1 KiB event bound:
	// discarded as read, so neither error nor growth.
	for _, prefix := range []string{":", "x", "foo:"} {
		r := io.MultiReader(strings.NewReader(prefix), &repeatReader{'c', 64 << 20}, strings.NewReader("\ndata: ok\n\n"))
		d := NewDecoder(r)
		d.MaxEventSize = 1 << 10
		e, err := d.Next()
		if err != nil || string(e.Data) != "ok" {
			t.Fatalf("%q: Next() = %q, %v", prefix, e.Data, err)
		}
		if len(d.buf) != readSize || cap(d.data) > 1<<10 {
			t.Fatalf("%q: buffers grew: read %d, data %d", prefix, len(d.buf), cap(d.data))
		}
	}
}

func TestLongLines(t *testing.T) {
	// Lines longer than the read buffer take the streaming path; check
	// every field and UTF-8 characters straddling the buffer boundary.
	long := strings.Repeat("é", 100_000) // 200 kB, 2-byte characters
	for pad := range 4 {
		p := strings.Repeat("a", pad)
		in := "id: " + p + long + "\nevent: " + p + long + "\ndata: " + p + long + "\ndata: x\n\n"
		want := refResult{Events: []Event{ev(p+long, p+long, p+long+"\nx")}, LastID: p + long}
		for _, size := range []int{0, 16, 17, 18} {
			d := NewDecoder(strings.NewReader(in))
			d.bufSize = size
			got, err := decodeAll(d)
			if err != nil || !sameResult(got, want) {
				t.Fatalf("pad %d buf %d: error %v, events %d", pad, size, err, len(got.Events))
			}
		}
	}
	// An id line with NUL far beyond the buffer is still ignored.
	in := "id: 1\n\nid: " + strings.Repeat("x", 100_000) + "\x00\ndata: x\n\n"
	checkLong(t, in, refResult{Events: []Event{ev("1", "message", "x")}, LastID: "1"})
	// Retry lines.
	checkLong(t, "retry: "+strings.Repeat("0", 100_000)+"7\n", refResult{Retry: 7 * time.Millisecond, RetrySet: true})
	checkLong(t, "retry: "+strings.Repeat("9", 100_000)+"\n", refResult{Retry: math.MaxInt64, RetrySet: true})
	checkLong(t, "retry: "+strings.Repeat("1", 100_000)+"x\n", refResult{})
	// Invalid UTF-8 across the boundary of a streamed line.
	in = "data: " + strings.Repeat("\xE2\x82", 50_000) + "\xF0\x9F\x98\x80\n\n"
	checkLong(t, in, refDecode([]byte(in)))
}

// checkLong decodes in with the default and tiny buffers, whole and in
// 1000-byte reads, and compares with want.
func checkLong(t *testing.T, in string, want refResult) {
	t.Helper()
	for _, size := range []int{0, 16, 19} {
		for _, small := range []bool{false, true} {
			var r io.Reader = strings.NewReader(in)
			if small {
				r = &smallReader{r: r, n: 1000}
			}
			d := NewDecoder(r)
			d.bufSize = size
			got, err := decodeAll(d)
			if err != nil || !sameResult(got, want) {
				t.Fatalf("buf %d small %v: error %v, got %.200s want %.200s", size, small, err, show(got), show(want))
			}
		}
	}
}

// smallReader returns at most n bytes per Read.
type smallReader struct {
	r io.Reader
	n int
}

func (s *smallReader) Read(p []byte) (int, error) { return s.r.Read(p[:min(len(p), s.n)]) }

func TestLongCRLFAcrossBoundary(t *testing.T) {
	// A line whose CR is the last byte of a full buffer and whose LF
	// starts the next read.
	for n := readSize - 10; n < readSize+2; n++ {
		line := "data: " + strings.Repeat("z", n-6)
		in := line + "\r\n" + "data: b\r\n\r\n"
		d := NewDecoder(strings.NewReader(in))
		e, err := d.Next()
		if err != nil || len(e.Data) != n-6+2 || string(e.Data[n-6:]) != "\nb" {
			t.Fatalf("n=%d: len %d, err %v", n, len(e.Data), err)
		}
		if _, err := d.Next(); err != io.EOF {
			t.Fatalf("n=%d: trailing error %v (an extra event means the LF counted as a blank line)", n, err)
		}
	}
}
