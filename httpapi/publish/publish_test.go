package publish_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/internal/hubtest"
	"github.com/ssehub/ssehub/memory"
)

func post(t *testing.T, th *hubtest.Hub, path, ctype, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", th.Srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+hubtest.AdminToken)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// lastEnvelope returns the topic's newest event as a JSON history page
// shows it (its bytes as stored: encoding/json would compact data).
func lastEnvelope(t *testing.T, th *hubtest.Hub, topic string) map[string]string {
	t.Helper()
	req, _ := http.NewRequest("GET", th.Srv.URL+"/events?topic="+topic, nil)
	req.Header.Set("Authorization", "Bearer "+hubtest.AdminToken)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct {
		Events []map[string]jsontext.Value `json:"events"`
	}
	if err := jsonv2.UnmarshalRead(resp.Body, &page); err != nil || len(page.Events) == 0 {
		t.Fatalf("page of %s: %v", topic, err)
	}
	out := map[string]string{}
	for k, v := range page.Events[len(page.Events)-1] {
		out[k] = string(v)
	}
	return out
}

// TestSourceAndInboxclawDedupe: a publisher sets every envelope field,
// source as an object or a string; on topics an Inboxclaw sink covers a
// key is deduplicated per source, elsewhere per topic as before.
func TestSourceAndInboxclawDedupe(t *testing.T) {
	th := hubtest.New(t, memory.New(memory.Options{}), func(c *hubtest.Config) {
		c.Publish.SourceScoped = ssehub.MustFilter("user.*")
	})
	env := `{"event_type":"user.login","event_id":"evt_abc","entity_id":"user_1","data":{"ip": "1.2.3.4"},"source":{"id": 1, "name": "web_frontend"},"meta":{"k":"v"}}`
	status, body := post(t, th, "/publish", "application/json", env)
	if status != 200 || body != "{\"id\":\"1\"}\n" {
		t.Fatalf("publish: %d %s", status, body)
	}
	last := lastEnvelope(t, th, "user.login")
	for k, want := range map[string]string{"event_id": `"evt_abc"`, "event_type": `"user.login"`, "entity_id": `"user_1"`,
		"data": `{"ip": "1.2.3.4"}`, "source": `{"id":1,"name":"web_frontend"}`, "meta": `{"k":"v"}`} {
		if last[k] != want {
			t.Errorf("%s = %s, want %s", k, last[k], want)
		}
	}
	// The same event_id from the same source is a duplicate; from another
	// source it is a new event.
	if status, body := post(t, th, "/publish", "application/json", env); status != 200 || !strings.Contains(body, `"duplicate":true`) {
		t.Fatalf("same source: %d %s", status, body)
	}
	other := strings.Replace(env, `"id": 1`, `"id": 2`, 1)
	if status, body := post(t, th, "/publish", "application/json", other); status != 200 || strings.Contains(body, "duplicate") {
		t.Fatalf("another source: %d %s", status, body)
	}
	// A query-string source, as a string and as an object.
	if status, body := post(t, th, "/publish/user.plain?key=evt_abc&source=web", "", "x"); status != 200 {
		t.Fatalf("string source: %d %s", status, body)
	}
	if lastEnvelope(t, th, "user.plain")["source"] != `"web"` {
		t.Errorf("string source: %s", lastEnvelope(t, th, "user.plain")["source"])
	}
	q := "/publish/user.obj?key=evt_abc&source=" + url.QueryEscape(`{"id":3,"name":"cli"}`)
	if status, body := post(t, th, q, "", "x"); status != 200 {
		t.Fatalf("object source in the query: %d %s", status, body)
	}
	if lastEnvelope(t, th, "user.obj")["source"] != `{"id":3,"name":"cli"}` {
		t.Errorf("object source: %s", lastEnvelope(t, th, "user.obj")["source"])
	}
	// Outside the sinks' topics a key is per topic, whatever the source.
	a := `{"topic":"orders.x","key":"k1","source":"a"}`
	b := `{"topic":"orders.x","key":"k1","source":"b"}`
	post(t, th, "/publish", "application/json", a)
	if _, body := post(t, th, "/publish", "application/json", b); !strings.Contains(body, `"duplicate":true`) {
		t.Fatalf("outside an Inboxclaw sink: %s", body)
	}
	for _, bad := range []string{
		`{"topic":"x","source":"{nope"}`,
		`{"topic":"x","source":[1]}`,
		`{"topic":"x","key":"a\u001fb"}`,
	} {
		if status, body := post(t, th, "/publish", "application/json", bad); status != 400 {
			t.Errorf("%s: %d %s", bad, status, body)
		}
	}
	if status, _ := post(t, th, "/publish/x?source="+url.QueryEscape("{nope"), "", "x"); status != 400 {
		t.Errorf("a query source starting with '{' that is no object: %d", status)
	}
}
