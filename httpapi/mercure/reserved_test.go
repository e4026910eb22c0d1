package mercure_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/httpapi/mercure"
	"github.com/ssehub/ssehub/internal/hubtest"
)

// TestNativePublishRefusesMercureType: the type "mercure" on a Mercure
// topic marks an active-subscription event, which only the hub writes;
// POST /publish refuses it there (as any reserved type), so a publisher
// with a scope on mercure.* cannot forge one. Other types, and the same
// type on other topics, are taken.
func TestNativePublishRefusesMercureType(t *testing.T) {
	e := newEnv(t, mercure.Options{})
	post := func(topic, typ string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, e.th.Srv.URL+"/publish/"+topic+"?type="+typ, strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+hubtest.AdminToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	for _, topic := range []string{mercure.TopicFor("https://example.com/a", false), mercure.TopicFor("https://example.com/a", true)} {
		if got := post(topic, "mercure"); got != http.StatusBadRequest {
			t.Errorf("type mercure on %s: %d, want 400", topic, got)
		}
		if got := post(topic, "update"); got != http.StatusOK {
			t.Errorf("type update on %s: %d, want 200", topic, got)
		}
	}
	if got := post("orders.created", "mercure"); got != http.StatusOK {
		t.Errorf("type mercure on a native topic: %d, want 200", got)
	}
}
