package sse

import (
	"strings"
	"testing"
	"time"
)

// Streams from the web-platform-tests eventsource/format-*.htm tests (the
// resources they serve, rewritten as Go strings) with what those tests
// expect a browser to dispatch. format-mime-* are about the HTTP
// Content-Type, which is the HTTP client's business, not the decoder's.
func TestWebPlatformFormatCases(t *testing.T) {
	long := strings.Repeat("*", 2049)
	cases := []decodeCase{
		{"format-bom", "\xEF\xBB\xBFdata:1\n\n\xEF\xBB\xBFdata:2\n\ndata:3\n\n",
			refResult{Events: []Event{ev("", "message", "1"), ev("", "message", "3")}}},
		{"format-bom-2", "\xEF\xBB\xBF\xEF\xBB\xBFdata:1\n\ndata:2\n\ndata:3\n\n",
			refResult{Events: []Event{ev("", "message", "2"), ev("", "message", "3")}}},
		{"format-comments", "data:1\r:\x00\n:\r\ndata:2\n:" + long + "\rdata:3\n:data:fail\r:" + long + "\ndata:4\n\n",
			refResult{Events: []Event{ev("", "message", "1\n2\n3\n4")}}},
		{"format-data-before-final-empty-line", "retry:1000\ndata:test1\n\nid:test\ndata:test2",
			refResult{Events: []Event{{Type: "message", Data: []byte("test1"), Retry: time.Second}}, Retry: time.Second, RetrySet: true}},
		{"format-field-data", "data:\n\ndata\ndata\n\ndata:test\n\n",
			refResult{Events: []Event{ev("", "message", ""), ev("", "message", "\n"), ev("", "message", "test")}}},
		{"format-field-event-empty", "event: \ndata:data\n\n",
			refResult{Events: []Event{ev("", "message", "data")}}},
		{"format-field-event", "event:test\ndata:x\n\ndata:x\n\n",
			refResult{Events: []Event{ev("", "test", "x"), ev("", "message", "x")}}},
		{"format-field-id", "id: 1\ndata: 1\n\n",
			refResult{Events: []Event{ev("1", "message", "1")}, LastID: "1"}},
		{"format-field-id-2", "id:1\ndata:1\n\ndata:2\n\nid\ndata:3\n\n",
			refResult{Events: []Event{ev("1", "message", "1"), ev("1", "message", "2"), ev("", "message", "3")}}},
		{"format-field-id-null", "id:1\ndata:a\n\nid:1\x002\ndata:b\n\n",
			refResult{Events: []Event{ev("1", "message", "a"), ev("1", "message", "b")}, LastID: "1"}},
		{"format-field-parsing", "data:\x00\ndata:  2\rData:1\ndata\x00:2\ndata:1\r\x00data:4\nda-ta:3\rdata_5\ndata:3\rdata:\r\n data:32\ndata:4\n\n",
			refResult{Events: []Event{ev("", "message", "\x00\n 2\n1\n3\n\n4")}}},
		{"format-field-retry-bogus", "retry:3000\nretry:1000x\ndata:x\n\n",
			refResult{Events: []Event{{Type: "message", Data: []byte("x"), Retry: 3 * time.Second}}, Retry: 3 * time.Second, RetrySet: true}},
		{"format-field-retry-empty", "retry\ndata:test\n\n",
			refResult{Events: []Event{ev("", "message", "test")}}},
		{"format-field-retry", "retry:03000\ndata:x\n\n",
			refResult{Events: []Event{{Type: "message", Data: []byte("x"), Retry: 3 * time.Second}}, Retry: 3 * time.Second, RetrySet: true}},
		{"format-field-unknown", "data:test\n data\ndata\nfoobar:xxx\njustsometext\n:thisisacommentyay\ndata:test\n\n",
			refResult{Events: []Event{ev("", "message", "test\n\ntest")}}},
		{"format-leading-space", "data:\ttest\rdata: \ndata:test\n\n",
			refResult{Events: []Event{ev("", "message", "\ttest\n\ntest")}}},
		{"format-newlines", "data:test\r\ndata\ndata:test\r\n\r\n",
			refResult{Events: []Event{ev("", "message", "test\n\ntest")}}},
		{"format-null-character", "data:\x00\n\n\n\n",
			refResult{Events: []Event{ev("", "message", "\x00")}}},
		{"format-utf-8", "data:ok\xE2\x80\xA6\n\n",
			refResult{Events: []Event{ev("", "message", "ok…")}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if ref := refDecode([]byte(c.in)); !sameResult(ref, c.want) {
				t.Fatalf("reference: got %s\nwant %s", show(ref), show(c.want))
			}
			checkAllSplits(t, []byte(c.in), c.want)
		})
	}
}
