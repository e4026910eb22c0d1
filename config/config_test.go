package config_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	_ "github.com/ssehub/ssehub/bolt"
	"github.com/ssehub/ssehub/config"
	_ "github.com/ssehub/ssehub/memory"
	"gopkg.in/yaml.v3"
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
	if s.Endpoint() != "/events_stream/" || s.Format != config.InboxclawFormat || s.Hello != "info" || s.HeartbeatStyle != "event" ||
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
		if len(c.Warnings) != 0 {
			t.Fatalf("warnings: %v", c.Warnings)
		}
		if p := c.PullEndpoints(); len(p) != 1 || p[0].ExtractPath != "/pull/extract" || p[0].ConfirmPath != "/pull/mark-processed" ||
			p[0].BatchSize != 10 || p[0].MaxBatchSize != config.DefaultMaxBatchSize || p[0].Lease != config.DefaultLease || !p[0].Public || !p[0].Sink {
			t.Fatalf("pull sink: %+v", p)
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
		st[0].Format != config.InboxclawFormat || st[0].Hello != "info" || st[0].HeartbeatStyle != "event" || len(c.Warnings) != 0 {
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
	// Output: /alerts/live [alert.*] inboxclaw 15s false
}

func TestRoundTrip(t *testing.T) {
	t.Setenv("SSEHUB_ADMIN_TOKEN", "tok")
	in, err := config.Load("../docs/ssehub.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Explicit values of every kind, including a key set to its zero value
	// and cors_origins: [] (none), which must not turn into "unset".
	in.Streams["zero"] = mustStream(t, "{replay: false, heartbeat: 0, retry: 0, public: true, cors_origins: [], match: [a.*, b]}")
	lease := config.Duration(time.Minute)
	in.Sink["pull"] = config.Sink{Type: "http_pull", BatchSize: 10, Lease: &lease, Match: config.StringList{"a.*"},
		PullPath: &config.PullPaths{Extract: "/fetch", MarkProcessed: "/ack"}}
	in.Sink["hook"] = config.Sink{Type: "webhook", Rest: map[string]any{"url": "https://example.com"}}
	in.Streams["pulled"] = mustStream(t, "{mode: pull, lease: 10s, batch_size: 5, max_batch_size: 50}")
	in.Streams["state"] = mustStream(t, "{init: last, init_max_topics: 7, keepalive_comment: ka, format: raw}")
	if err := in.Validate(); err != nil || len(in.Warnings) != 1 {
		t.Fatalf("%v %q", err, in.Warnings)
	}
	out, err := yaml.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	back, err := config.Parse(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !reflect.DeepEqual(in, back) {
		t.Fatalf("round trip changed the config:\n%s\nbefore %+v\nafter  %+v", out, in, back)
	}
	if !reflect.DeepEqual(in.AllStreams(), back.AllStreams()) {
		t.Fatalf("streams differ: %+v\n%+v", in.AllStreams(), back.AllStreams())
	}
	z := back.AllStreams()[3]
	if z.Name != "zero" || z.CORSOrigins == nil || len(z.CORSOrigins) != 0 || z.Replay || z.Heartbeat != 0 || !z.Public {
		t.Fatalf("zero stream: %+v", z)
	}
	if !strings.Contains(string(out), "max_age: 168h0m0s") {
		t.Fatalf("durations are not written as Go durations:\n%s", out)
	}
}

func mustStream(t *testing.T, y string) config.Stream {
	t.Helper()
	c, err := config.Parse([]byte("streams:\n  x: " + y + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	return c.Streams["x"]
}

func TestOtherSinkTypesAreNotInterpreted(t *testing.T) {
	// Keys of Inboxclaw's other sink kinds may share names with the SSE
	// sink's keys but hold anything; the config still loads.
	c, err := config.Parse([]byte(`
sink:
  hook:
    type: webhook
    url: https://example.com/hook
    match: {weird: 1}
    heartbeat_timeout: never
    path: [a, b]
  untyped:
    match: "*"
  events_stream:
    type: sse
`))
	if err != nil {
		t.Fatal(err)
	}
	if st := c.AllStreams(); len(st) != 1 || st[0].Name != "events_stream" {
		t.Fatalf("%+v", st)
	}
	if len(c.Warnings) != 2 || !strings.Contains(strings.Join(c.Warnings, "\n"), `sink.hook: type "webhook"`) {
		t.Fatalf("warnings: %q", c.Warnings)
	}
	if c.Sink["hook"].Rest["url"] != "https://example.com/hook" {
		t.Fatalf("rest: %+v", c.Sink["hook"])
	}
}

// TestDriverSettings: storage.<driver> sections belong to the registered
// drivers, which check them; a URL as the driver names its scheme's driver.
func TestDriverSettings(t *testing.T) {
	c, err := config.Parse([]byte("storage:\n  driver: bolt\n  bolt: {open_timeout: 5s, max_batch: 500}\n"))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		OpenTimeout time.Duration `yaml:"open_timeout"`
		MaxBatch    int           `yaml:"max_batch"`
	}
	if sc := c.Storage.StoreConfig(nil); sc.Settings == nil || sc.Settings(&s) != nil || s.OpenTimeout != 5*time.Second || s.MaxBatch != 500 {
		t.Fatalf("settings %+v", s)
	}
	c = config.Default()
	c.Storage.Driver = "memory://whatever"
	if err := c.Validate(); err != nil || c.Storage.Driver != "memory" || c.Storage.URL != "memory://whatever" {
		t.Fatalf("%v %+v", err, c.Storage)
	}
	for in, want := range map[string]string{
		"storage: {driver: postgres}\n":          "storage.driver: storage driver \"postgres\" is not available in this build (available: bolt, memory",
		"storage: {bolt: {open_timeout: -1s}}\n": "storage.bolt.open_timeout: must not be negative",
		"auth: {expired_token_retention: -1h}\n": "auth.expired_token_retention: must not be negative",
		"storage: {bolt: {bogus: 1}}\n":          "storage.bolt",
		"storage: {nosuchdriver: {x: 1}}\n":      "storage.nosuchdriver: unknown key",
		"storage: {driver: bolt, path: \"\"}\n":  "storage.path",
	} {
		if _, err := config.Parse([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

func TestNegativeAndUnavailableValuesNameTheirKey(t *testing.T) {
	for in, want := range map[string]string{
		"streams:\n  s: {heartbeat: -1s}\n":                   "streams.s.heartbeat: must not be negative",
		"streams:\n  s: {retry: -1}\n":                        "streams.s.retry: must not be negative",
		"sink:\n  s: {type: sse, heartbeat_timeout: -5}\n":    "sink.s.heartbeat_timeout: must not be negative",
		"storage: {retention: {max_age: -1h}}\n":              "storage.retention.max_age: must not be negative",
		"storage: {retention: {max_bytes: -1}}\n":             "storage.retention.max_bytes: must not be negative",
		"storage: {dedupe_window: -1s}\n":                     "storage.dedupe_window: must not be negative",
		"limits: {streams_per_addr: -1}\n":                    "limits.streams_per_addr: must not be negative",
		"server: {read_header_timeout: -1s}\n":                "server.read_header_timeout: must not be negative",
		"server: {max_body_bytes: -1}\n":                      "server.max_body_bytes: must not be negative",
		"streams:\n  s: {format: xml}\n":                      `streams.s.format: "xml" is not one of`,
		"streams:\n  \"a b\": {}\n":                           "streams.a b: the name must be letters",
		"server: {tls: {cert: c.pem}}\n":                      "server.tls: cert and key go together",
		"server: {tls: {cert: c, key: k, self_signed: true}}": "server.tls: self_signed and cert exclude each other",
		"server: {addr: \"\"}\n":                              "server.addr: must not be empty",
		"storage: {path: \"\"}\n":                             "storage.path: the bolt store needs a data directory",
		"limits: {max_topic_len: 300}\n":                      "limits.max_topic_len: at most 255",
		"log: {format: xml}\n":                                `log.format: "xml" is not one of text, json`,
		"streams:\n  s: {path: \"/a b\"}\n":                   `streams.s.path: "/a b" is not a URL path`,
		"streams:\n  s: {path: \"/x/../y\"}\n":                `streams.s.path: "/x/../y"`,
		"streams:\n  s: {path: \"//x\"}\n":                    `streams.s.path: "//x"`,
		"sink:\n  s: {type: sse, path: \"/live?x=1\"}\n":      `sink.s.path: "/live?x=1"`,
	} {
		if _, err := config.Parse([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

func TestDurationForms(t *testing.T) {
	for in, want := range map[string]time.Duration{"15": 15 * time.Second, "30.0": 30 * time.Second, "0.5": 500 * time.Millisecond,
		`"30s"`: 30 * time.Second, "1m30s": 90 * time.Second, "0": 0} {
		c, err := config.Parse([]byte("streams:\n  s: {heartbeat: " + in + "}\n"))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got := c.AllStreams()[0].Heartbeat; got != want {
			t.Errorf("%s: %v, want %v", in, got, want)
		}
	}
	if _, err := config.Parse([]byte("streams:\n  s: {heartbeat: [1]}\n")); err == nil || !strings.Contains(err.Error(), "streams.s.heartbeat") {
		t.Errorf("list as duration: %v", err)
	}
}

func TestStreamPaths(t *testing.T) {
	for path, want := range map[string]string{"": "/s/", "/": "/s/", "live": "/s/live", "/live": "/s/live", "/a/b.v1/": "/s/a/b.v1/"} {
		c, err := config.Parse([]byte("streams:\n  s: {path: \"" + path + "\"}\n"))
		if err != nil {
			t.Fatalf("%q: %v", path, err)
		}
		if got := c.AllStreams()[0].Endpoint(); got != want {
			t.Errorf("path %q: endpoint %q, want %q", path, got, want)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := config.Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%v", err)
	}
}

func TestLoadFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ssehub.yaml")
	t.Setenv("ALERT_PATH", "/live")
	if err := os.WriteFile(p, []byte("sink:\n  alerts: {type: sse, path: \"${ALERT_PATH}\", heartbeat_timeout: 15}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if st := c.AllStreams(); st[0].Endpoint() != "/alerts/live" {
		t.Fatalf("%+v", st)
	}
}

func TestDecodeAndValidationErrorsTogether(t *testing.T) {
	_, err := config.Parse([]byte("streams:\n  s: {format: xml, heartbeet: 1, heartbeat: soon}\n  t: {match: {a: 1}}\nlog: {level: x}\n"))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"streams.s.heartbeet: unknown key (line 2)", `streams.s.heartbeat: line 2: "soon" is not a duration`,
		"streams.t.match: line 3", `log.level: "x"`, `streams.s.format: "xml"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	if _, err := config.Parse([]byte("server: {addr: [1]\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("syntax error: %v", err)
	}
}

func TestGoroutinePerStream(t *testing.T) {
	c, err := config.Parse([]byte("server:\n  goroutine_per_stream: true\n"))
	if err != nil || !c.Server.GoroutinePerStream {
		t.Fatalf("%v %+v", err, c.Server)
	}
	if c := config.Default(); c.Server.GoroutinePerStream {
		t.Fatal("streams keep a goroutine by default")
	}
}
