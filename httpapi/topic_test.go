package httpapi_test

import (
	"strings"
	"testing"
)

// TestTopicLastEventKeepsItsBytes: GET /api/topics/{topic} shows the last
// event's data exactly as published, whitespace included (encoding/json
// would compact an embedded raw message).
func TestTopicLastEventKeepsItsBytes(t *testing.T) {
	th := newMemoryHub(t)
	data := "{\"a\":  1,\n \"b\" : [ 2 ]}"
	th.publish("keep.bytes", "first")
	resp, b := th.do("POST", "/publish/keep.bytes", "application/json", data)
	if resp.StatusCode != 200 {
		t.Fatalf("publish: %d %s", resp.StatusCode, b)
	}
	resp, b = th.do("GET", "/api/topics/keep.bytes", "", "")
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"data":`+data) || !strings.Contains(string(b), `"events":2`) {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	if resp, b := th.do("GET", "/api/topics/no.such", "", ""); resp.StatusCode != 404 || !strings.Contains(string(b), "NOT_FOUND") {
		t.Fatalf("unknown topic: %d %s", resp.StatusCode, b)
	}
}
