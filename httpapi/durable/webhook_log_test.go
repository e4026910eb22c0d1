package durable_test

import (
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/hubtest"
)

// TestWebhookFailureLogsNoSecret guards a defect found by an adversarial pass:
// a failed webhook delivery was logged at debug level with net/http's
// error, which quotes the whole webhook URL, so a receiver's credential
// in its query (?token=…, as many webhook receivers take one) went into
// the hub's log. The line names the URL with its secrets redacted.
func TestWebhookFailureLogsNoSecret(t *testing.T) {
	const secret = "whsec-Abc123-receiver-credential"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nothing listens there: every delivery fails
	logs := &syncBuffer{}
	e := newEnvWith(t, subOpts(), func(c *hubtest.Config) {
		c.API.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	u := "http://127.0.0.1:" + strconv.Itoa(port) + "/hook?token=" + secret + "&x=1"
	want(t, e.do("PUT", subPath+"wl", webhookSub("wl/*", u)), http.StatusCreated)
	e.mustCreate("/v1/stream/wl/1", textPlain, "x")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "webhook delivery failed") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	l := logs.String()
	if !strings.Contains(l, "webhook delivery failed") {
		t.Fatalf("no failed delivery logged:\n%s", l)
	}
	if strings.Contains(l, secret) {
		t.Errorf("the log holds the webhook's credential:\n%s", l)
	}
	if !strings.Contains(l, "127.0.0.1:"+strconv.Itoa(port)+"/hook") {
		t.Errorf("the log does not say which webhook failed:\n%s", l)
	}
}
