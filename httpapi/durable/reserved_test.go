package durable_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/httpapi/durable"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/hubtest"
)

// forgeRecord writes a record of typ on topic into the log directly,
// bypassing the HTTP endpoints (which refuse reserved types).
func forgeRecord(t *testing.T, h *hub.Hub, topic, typ, body string) {
	t.Helper()
	if _, err := h.Publish(context.Background(), []*ssehub.Event{{Topic: topic, Type: typ, Data: []byte(body)}}); err != nil {
		t.Fatal(err)
	}
}

// TestReservedTypes: the native publish endpoints refuse Durable Streams'
// own record types (ds.create, ds.close, ds.delete, ds.unref, any ds.*) on
// ds.* topics, as one event and in an NDJSON batch, so no publisher can
// forge a stream's records; the same types on other topics, and other
// types on ds.* topics (a stream's data), are still taken.
func TestReservedTypes(t *testing.T) {
	e := newEnv(t, durable.Options{})
	post := func(path, ctype, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, e.url+path, strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Authorization", "Bearer "+hubtest.AdminToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var b struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		_ = json.NewDecoder(res.Body).Decode(&b)
		return res.StatusCode, b.Error.Code + ": " + b.Error.Message
	}
	for _, typ := range []string{"ds.create", "ds.close", "ds.delete", "ds.unref", "ds.anything"} {
		if code, msg := post("/publish/ds.team.x?type="+typ, "text/plain", "{}"); code != http.StatusBadRequest || !strings.Contains(msg, "BAD_FIELD") || !strings.Contains(msg, "Durable Streams") {
			t.Errorf("POST /publish/ds.team.x type %s: %d %s, want 400 BAD_FIELD naming Durable Streams", typ, code, msg)
		}
	}
	batch := `{"topic":"ds.team.x","data":"a"}` + "\n" + `{"topic":"ds.team.x","type":"ds.close","data":"{}"}` + "\n"
	if code, msg := post("/publish", "application/x-ndjson", batch); code != http.StatusBadRequest {
		t.Errorf("an NDJSON batch with a ds.close record: %d %s, want 400", code, msg)
	}
	var n int
	if err := e.th.Hub.History(context.Background(), 0, ssehub.MustFilter("ds.*"), func(*ssehub.Event) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d refused events reached the log (a batch is all or nothing)", n)
	}
	for _, c := range []struct{ path, what string }{
		{"/publish/orders.x?type=ds.create", "a ds.* type on a native topic"},
		{"/publish/ds.team.x?type=message", "another type on a ds.* topic"},
		{"/publish/ds.team.x", "no type on a ds.* topic"},
	} {
		if code, msg := post(c.path, "text/plain", "{}"); code != http.StatusOK {
			t.Errorf("%s: %d %s, want 200", c.what, code, msg)
		}
	}
}
