package sse_test

import (
	"bytes"
	"testing"

	gosse "github.com/tmaxmax/go-sse"
)

// BenchmarkDecodeGoSSE decodes the same input as BenchmarkDecode with
// github.com/tmaxmax/go-sse's closest equivalent, sse.Read (which, like
// Decoder, yields every dispatched event with the last event ID), with its
// default configuration.
func BenchmarkDecodeGoSSE(b *testing.B) {
	in := benchStream()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		for _, err := range gosse.Read(bytes.NewReader(in), nil) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != 10_000 {
			b.Fatalf("decoded %d events", n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*10_000), "ns/event")
}

// TestGoSSEAgrees checks that the comparison is fair: go-sse decodes the
// benchmark input to the same events.
func TestGoSSEAgrees(t *testing.T) {
	in := benchStream()
	var theirs []gosse.Event
	for e, err := range gosse.Read(bytes.NewReader(in), nil) {
		if err != nil {
			t.Fatal(err)
		}
		theirs = append(theirs, e)
	}
	d := newDecoder(in)
	for i, e := range theirs {
		ours, err := d.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ours.ID != e.LastEventID || ours.Type != e.Type || string(ours.Data) != e.Data {
			t.Fatalf("event %d differs: %q/%q/%q vs %q/%q/%q", i, ours.ID, ours.Type, ours.Data, e.LastEventID, e.Type, e.Data)
		}
	}
	if len(theirs) != 10_000 {
		t.Fatalf("go-sse decoded %d events", len(theirs))
	}
}
