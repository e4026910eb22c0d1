package bench

import (
	"bytes"
	"fmt"
	"net/http/httputil"
	"testing"
)

// stream returns n SSE events as the hub sends them, with payload times.
func stream(n int) []byte {
	var b bytes.Buffer
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "id: %d\ndata: {\"t\":%d,\"p\":\"abc\"}\n\n", i, 1000+i)
	}
	return b.Bytes()
}

// chunked frames body as HTTP/1.1 chunks of the given size, then the last chunk.
func chunked(body []byte, size int) []byte {
	var out bytes.Buffer
	w := httputil.NewChunkedWriter(&out)
	for i := 0; i < len(body); i += size {
		w.Write(body[i:min(i+size, len(body))])
	}
	w.Close()
	out.WriteString("\r\n")
	return out.Bytes()
}

// TestFeedSplitAnywhere feeds a chunked stream split at every point: the
// tally is the same as for the whole.
func TestFeedSplitAnywhere(t *testing.T) {
	body := stream(20)
	for _, size := range []int{1, 7, 33, len(body)} {
		wire := chunked(body, size)
		for split := 0; split <= len(wire); split++ {
			var rc Receiver
			more := rc.FeedChunked(wire[:split], 5000) && rc.FeedChunked(wire[split:], 5000)
			if more {
				t.Fatalf("size %d split %d: the last chunk was not seen", size, split)
			}
			if rc.Events != 20 || rc.LastID != 20 || rc.Dups != 0 || rc.Latency.n != 20 {
				t.Fatalf("size %d split %d: events %d last %d dups %d latencies %d", size, split, rc.Events, rc.LastID, rc.Dups, rc.Latency.n)
			}
			if rc.Bytes != uint64(len(body)) {
				t.Fatalf("size %d split %d: %d body bytes, want %d", size, split, rc.Bytes, len(body))
			}
		}
	}
}

func TestFeedCountsDuplicates(t *testing.T) {
	var rc Receiver
	rc.Feed([]byte("id: 5\ndata: x\n\nid: 5\ndata: x\n\nid: 4\ndata: x\n\nid: 6\ndata: x\n\n"), 0)
	if rc.Events != 4 || rc.Dups != 2 || rc.LastID != 6 {
		t.Fatalf("events %d dups %d last %d", rc.Events, rc.Dups, rc.LastID)
	}
}

// TestFeedOpaqueIDs: with OpaqueIDs, ids that are not numbers (a Mercure
// hub's urn:uuid:… and #n@epoch) count as events, never as duplicates,
// and the payload times still give latencies.
func TestFeedOpaqueIDs(t *testing.T) {
	var b bytes.Buffer
	for i := 1; i <= 5; i++ {
		fmt.Fprintf(&b, ":\nid: urn:uuid:%08d-0000-4000-8000-000000000000\ndata: {\"t\":%d,\"p\":\"x\"}\n\n", i, 1000+i)
		fmt.Fprintf(&b, "id: #%d@k3x9\ndata: {\"t\":%d,\"p\":\"x\"}\n\n", i, 1000+i)
	}
	var opaque, numeric Receiver
	opaque.OpaqueIDs = true
	opaque.Feed(b.Bytes(), 5000)
	numeric.Feed(b.Bytes(), 5000)
	if opaque.Events != 10 || opaque.Dups != 0 || opaque.Latency.Count() != 10 {
		t.Errorf("opaque: %d events, %d dups, %d latencies; want 10, 0, 10", opaque.Events, opaque.Dups, opaque.Latency.Count())
	}
	if numeric.Dups == 0 {
		t.Errorf("numeric ids: no duplicates counted for ids that are not numbers (the test shows nothing)")
	}
}
