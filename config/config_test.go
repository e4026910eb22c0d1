package config_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/config"
)

func TestDefaultValidates(t *testing.T) {
	if err := config.Default().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestExampleFile(t *testing.T) {
	t.Setenv("SSEHUB_ADMIN_TOKEN", "from-env")
	c, err := config.Load("../docs/ssehub.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Auth.AdminToken != "from-env" || c.Limits.MaxTopics != 32 || time.Duration(c.Storage.Retention.MaxAge) != 168*time.Hour {
		t.Fatalf("%+v", c)
	}
	st := c.AllStreams()
	if len(st) != 2 {
		t.Fatalf("%d streams", len(st))
	}
	// The example shows the defaults, so it must behave like an empty stream entry.
	if es := st[1]; es.Name != "events_stream" || es.CORSOrigins != nil || !es.Replay || es.Public || es.Retry != 3*time.Second {
		t.Fatalf("events_stream: %+v", es)
	}
	if al := st[0]; al.Endpoint() != "/alerts/live" || al.Heartbeat != 15*time.Second {
		t.Fatalf("alerts: %+v", al)
	}
}

func TestInboxclawSinks(t *testing.T) {
	c, err := config.Parse([]byte("sink:\n  events_stream:\n    type: sse\n"))
	if err != nil {
		t.Fatal(err)
	}
	st := c.AllStreams()
	if len(st) != 1 {
		t.Fatalf("%+v", st)
	}
	s := st[0]
	if s.Endpoint() != "/events_stream/" || s.Format != "envelope" || s.Hello != "info" || s.HeartbeatStyle != "event" ||
		s.Heartbeat != 30*time.Second || s.Replay || !s.Public || s.Retry != 0 || fmt.Sprint(s.Match) != "[*]" {
		t.Fatalf("minimal sink: %+v", s)
	}
	for _, hb := range []string{"15", "15.0", `"15s"`} {
		c, err := config.Parse([]byte("sink:\n  alerts:\n    type: sse\n    path: \"/live\"\n    match: \"alert.*\"\n    heartbeat_timeout: " + hb + "\n  pull:\n    type: http_pull\n    batch_size: 10\n"))
		if err != nil {
			t.Fatal(err)
		}
		st := c.AllStreams()
		if len(st) != 1 || st[0].Endpoint() != "/alerts/live" || st[0].Heartbeat != 15*time.Second || fmt.Sprint(st[0].Match) != "[alert.*]" {
			t.Fatalf("heartbeat_timeout %s: %+v", hb, st)
		}
		if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "sink.pull") {
			t.Fatalf("warnings: %v", c.Warnings)
		}
	}
}

func TestStreamDefaultsAndExplicitZero(t *testing.T) {
	c, err := config.Parse([]byte("streams:\n  a: {}\n  b: {replay: false, heartbeat: 0, retry: 0, public: true, match: [x.*, y]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	st := c.AllStreams()
	a, b := st[0], st[1]
	if !a.Replay || a.Heartbeat != 30*time.Second || a.Retry != 3*time.Second || a.Public {
		t.Fatalf("defaults: %+v", a)
	}
	if b.Replay || b.Heartbeat != 0 || b.Retry != 0 || !b.Public || fmt.Sprint(b.Match) != "[x.* y]" {
		t.Fatalf("explicit: %+v", b)
	}
}

func TestExpand(t *testing.T) {
	t.Setenv("A", "aa")
	t.Setenv("EMPTY", "")
	if got := config.Expand("${A} ${B:-def} ${EMPTY:-e} $${A} ${NOPE}"); got != "aa def e ${A} " {
		t.Fatalf("%q", got)
	}
}

func TestValidationNamesKeys(t *testing.T) {
	cases := map[string]string{
		"streams:\n  s: {format: xml}\n":                       "streams.s.format",
		"streams:\n  s: {heartbeat_style: loud}\n":             "streams.s.heartbeat_style",
		"streams:\n  s: {hello: hi}\n":                         "streams.s.hello",
		"streams:\n  s: {match: \"a..b\"}\n":                   "streams.s.match[0]",
		"streams:\n  events: {}\n":                             "reserved",
		"streams:\n  a: {path: /x}\nsink:\n  a: {type: sse}\n": "sink.a",
		"storage: {driver: postgres}\n":                        "storage.driver",
		"log: {level: loud}\n":                                 "log.level",
		"streams:\n  s: {heartbeet: 1s}\n":                     "streams.s.heartbeet: unknown key",
		"server: {adr: x}\n":                                   "server.adr: unknown key",
		"streams:\n  s: {heartbeat: soon}\n":                   "streams.s.heartbeat",
		"streams:\n  s: {match: {a: b}}\n":                     "streams.s.match",
		"bogus: 1\n":                                           "bogus: unknown key",
		"storage: {retention: {max_agee: 1h}}\n":               "storage.retention.max_agee: unknown key",
		"sink:\n  a: {type: sse, heartbeat_timeout: x}\n":      "sink.a.heartbeat_timeout",
		"limits: {publish_rate: -1}\n":                         "limits",
		"server: {cors_origins: [\"ftp://x\"]}\n":              "server.cors_origins[0]",
		"streams:\n  s: {cors_origins: [\"*\", x]}\n":          "streams.s.cors_origins[1]",
		"sink:\n  s: {type: sse, bogus: 1}\n":                  "sink.s",
	}
	for in, want := range cases {
		_, err := config.Parse([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one naming %q", in, err, want)
		}
	}
	_, err := config.Parse([]byte("storage: {driver: x}\nlog: {level: y}\n"))
	if err == nil || !strings.Contains(err.Error(), "storage.driver") || !strings.Contains(err.Error(), "log.level") {
		t.Errorf("several errors at once: %v", err)
	}
}

func TestInboxclawSeedExamples(t *testing.T) {
	// The SSE sink page's examples, verbatim.
	for _, in := range []string{
		"sink:\n  events_stream:\n    type: sse\n",
		"sink:\n  events_stream:\n    type: sse\n    heartbeat_timeout: \"30s\"\n",
		"sink:\n  events_stream:\n    type: sse\n    heartbeat_timeout: 30.0\n",
	} {
		c, err := config.Parse([]byte(in))
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		st := c.AllStreams()
		if len(st) != 1 || st[0].Endpoint() != "/events_stream/" || st[0].Heartbeat != 30*time.Second || st[0].Replay || !st[0].Public {
			t.Fatalf("%q: %+v", in, st)
		}
	}
	c, err := config.Parse([]byte("sink:\n  alerts:\n    type: sse\n    path: \"/live\"\n    match: \"alert.*\"\n    heartbeat_timeout: 15\n"))
	if err != nil {
		t.Fatal(err)
	}
	if st := c.AllStreams(); len(st) != 1 || st[0].Endpoint() != "/alerts/live" || st[0].Heartbeat != 15*time.Second ||
		st[0].Format != "envelope" || st[0].Hello != "info" || st[0].HeartbeatStyle != "event" || len(c.Warnings) != 0 {
		t.Fatalf("alerts: %+v %v", st, c.Warnings)
	}
	// public: false on a sink asks for a token after all.
	c, err = config.Parse([]byte("sink:\n  s: {type: sse, public: false}\n"))
	if err != nil || c.AllStreams()[0].Public {
		t.Fatalf("sink public: false: %v %+v", err, c)
	}
}

func TestParseExpandsVariables(t *testing.T) {
	t.Setenv("HUB_ADDR", "127.0.0.1:9999")
	t.Setenv("HUB_TOKEN", "s3cret")
	c, err := config.Parse([]byte("server: {addr: \"${HUB_ADDR}\"}\nauth: {admin_token: \"${HUB_TOKEN}$$\"}\nstorage: {path: \"${HUB_DATA:-/var/lib/ssehub}\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.Addr != "127.0.0.1:9999" || c.Auth.AdminToken != "s3cret$" || c.Storage.Path != "/var/lib/ssehub" {
		t.Fatalf("%+v %+v %+v", c.Server, c.Auth, c.Storage)
	}
}

func TestDuplicateEndpoint(t *testing.T) {
	_, err := config.Parse([]byte("streams:\n  a: {path: /live}\nsink:\n  a: {type: sse, path: live}\n"))
	if err == nil || !strings.Contains(err.Error(), "endpoint /a/live is also used") || !strings.Contains(err.Error(), "sink.a: the name is also used by streams.a") {
		t.Fatalf("%v", err)
	}
}

func TestSeveralErrorsNamedTogether(t *testing.T) {
	_, err := config.Parse([]byte("streams:\n  s: {format: xml, hello: hi, match: [\"a..b\", ok]}\nlog: {level: loud, format: xml}\n"))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"streams.s.format", "streams.s.hello", "streams.s.match[0]", "log.level", "log.format"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "match[1]") {
		t.Errorf("valid pattern reported: %v", err)
	}
	_, err = config.Parse([]byte("bogus: 1\nserver: {adr: x}\n"))
	if err == nil || !strings.Contains(err.Error(), "bogus: unknown key") || !strings.Contains(err.Error(), "server.adr: unknown key") {
		t.Fatalf("unknown keys together: %v", err)
	}
}

func ExampleParse() {
	c, err := config.Parse([]byte(`
sink:
  alerts:
    type: sse
    path: "/live"
    match: "alert.*"
    heartbeat_timeout: 15
`))
	if err != nil {
		panic(err)
	}
	for _, s := range c.AllStreams() {
		fmt.Println(s.Endpoint(), s.Match, s.Format, s.Heartbeat, s.Replay)
	}
	// Output: /alerts/live [alert.*] envelope 15s false
}
