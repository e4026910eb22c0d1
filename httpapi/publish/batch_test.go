package publish_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/internal/hubtest"
	"github.com/ssehub/ssehub/memory"
)

// TestNDJSONBatchKeepsEveryLine: a batch of 300 lines (events are
// allocated 64 at a time), with blank lines, some in the documented
// spelling (the fast decoder) and some not (another case, an alias, a
// string data, an escaped topic: the struct unmarshal), stores every event
// in order with its own fields.
func TestNDJSONBatchKeepsEveryLine(t *testing.T) {
	store := memory.New(memory.Options{})
	th := hubtest.New(t, store)
	var body strings.Builder
	type want struct{ topic, data, key string }
	var wants []want
	for i := range 300 {
		switch i % 5 {
		case 0:
			fmt.Fprintf(&body, `{"topic":"b.t%d","data":{"i":%d},"key":"k%d"}`, i%3, i, i)
			wants = append(wants, want{fmt.Sprint("b.t", i%3), fmt.Sprintf(`{"i":%d}`, i), fmt.Sprint("k", i)})
		case 1:
			fmt.Fprintf(&body, `{"Topic":"b.t%d","DATA":[%d]}`, i%3, i)
			wants = append(wants, want{fmt.Sprint("b.t", i%3), fmt.Sprintf(`[%d]`, i), ""})
		case 2:
			fmt.Fprintf(&body, `{"event_type":"b.t%d","data":"line %d"}`, i%3, i)
			wants = append(wants, want{fmt.Sprint("b.t", i%3), fmt.Sprint("line ", i), ""})
		case 3:
			fmt.Fprintf(&body, "{\"topic\":\"b.\\u0074%d\",\"data\":%d}\n", i%3, i) // escaped: b.t<n>
			wants = append(wants, want{fmt.Sprint("b.t", i%3), fmt.Sprint(i), ""})
		default:
			fmt.Fprintf(&body, ` {"data":{"i":%d},"topic":"b.t%d"} `, i, i%3)
			wants = append(wants, want{fmt.Sprint("b.t", i%3), fmt.Sprintf(`{"i":%d}`, i), ""})
		}
		body.WriteString("\n")
		if i%50 == 0 {
			body.WriteString("\n  \n")
		}
	}
	status, resp := post(t, th, "/publish", "application/x-ndjson", body.String())
	if status != 200 {
		t.Fatalf("publish: %d %s", status, resp)
	}
	var ids struct {
		IDs []string `json:"ids"`
	}
	if err := jsonv2.Unmarshal([]byte(resp), &ids); err != nil || len(ids.IDs) != len(wants) {
		t.Fatalf("answer %.200s: %v (%d ids)", resp, err, len(ids.IDs))
	}
	var got []*ssehub.Event
	if err := store.Read(context.Background(), 0, ssehub.All(), func(e *ssehub.Event) error {
		cp := *e
		got = append(got, &cp)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(wants) {
		t.Fatalf("%d events stored, want %d", len(got), len(wants))
	}
	for i, w := range wants {
		e := got[i]
		if e.Topic != w.topic || string(e.Data) != w.data || e.Key != w.key || fmt.Sprint(e.ID) != ids.IDs[i] {
			t.Fatalf("event %d: %s %q key %q id %d (answered %s), want %+v", i, e.Topic, e.Data, e.Key, e.ID, ids.IDs[i], w)
		}
	}
}
