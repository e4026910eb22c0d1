package config_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/config"
)

// TestHTTPPullSinks loads the http_pull configurations of Inboxclaw's
// documentation unchanged.
func TestHTTPPullSinks(t *testing.T) {
	c, err := config.Parse([]byte("sink:\n  http_pull: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := c.PullEndpoints()
	if len(p) != 1 || p[0].ExtractPath != "/http_pull/extract" || p[0].ConfirmPath != "/http_pull/mark-processed" || p[0].Format != config.InboxclawFormat {
		t.Fatalf("a sink named after its type: %+v", p)
	}
	c, err = config.Parse([]byte(`
sink:
  accounting_service:
    type: 'http_pull'
    match: 'invoice.*'
  data_warehouse_sync:
    type: 'http_pull'
    path:
      extract: '/fetch'
      mark_processed: '/acknowledge'
    match:
      - 'sales.order.*'
      - 'inventory.update'
    coalesce:
      - 'inventory.update'
    ttl_enabled: true
    default_ttl: '2h'
    event_ttl:
      'sales.order.created': '24h'
      'inventory.*': '15m'
    lease: 45s
    batch_size: 20
`))
	if err != nil {
		t.Fatal(err)
	}
	p = c.PullEndpoints()
	if len(p) != 2 || p[0].Name != "accounting_service" || p[0].ExtractPath != "/accounting_service/extract" || strings.Join(p[0].Match, ",") != "invoice.*" {
		t.Fatalf("accounting: %+v", p)
	}
	if d := p[1]; d.ExtractPath != "/data_warehouse_sync/fetch" || d.ConfirmPath != "/data_warehouse_sync/acknowledge" ||
		d.Lease != 45*time.Second || d.BatchSize != 20 || len(d.Match) != 2 {
		t.Fatalf("data_warehouse_sync: %+v", d)
	}
	if len(c.Warnings) != 2 || !strings.Contains(strings.Join(c.Warnings, "\n"), "ttl_enabled") || !strings.Contains(strings.Join(c.Warnings, "\n"), "coalesce") {
		t.Fatalf("warnings: %q", c.Warnings)
	}
	if m := c.InboxclawMatch(); strings.Join(m, ",") != "instance.*,inventory.update,invoice.*,sales.order.*" && strings.Join(m, ",") != "inventory.update,invoice.*,sales.order.*" {
		t.Fatalf("inboxclaw match: %q", m)
	}
}

func TestPullStreams(t *testing.T) {
	c, err := config.Parse([]byte("streams:\n  jobs: {mode: pull, match: jobs.*, lease: 5s, max_batch_size: 50}\n  live: {match: jobs.*}\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := c.PullEndpoints()
	if len(p) != 1 || p[0].Public || p[0].Sink || p[0].Lease != 5*time.Second || p[0].BatchSize != 50 || p[0].MaxBatchSize != 50 || p[0].Format != "envelope" {
		t.Fatalf("pull stream: %+v", p)
	}
	if st := c.AllStreams(); len(st) != 1 || st[0].Name != "live" {
		t.Fatalf("a pull stream is no SSE stream: %+v", st)
	}
	if len(c.InboxclawMatch()) != 0 {
		t.Fatal("a pull stream is no Inboxclaw sink")
	}
}

func TestPullErrors(t *testing.T) {
	for in, want := range map[string]string{
		"sink:\n  p: {type: http_pull, heartbeat_timeout: 5}\n":                  "sink.p.heartbeat_timeout: not a key of an http_pull sink",
		"sink:\n  p: {type: sse, lease: 5s}\n":                                   "sink.p.lease: not a key of an sse sink",
		"sink:\n  p: {type: http_pull, path: /x}\n":                              "path of an http_pull sink is a mapping",
		"sink:\n  p: {type: http_pull, path: {extract: a, bogus: b}}\n":          "bogus",
		"sink:\n  p: {type: http_pull, lease: 0}\n":                              "sink.p.lease: must be positive",
		"sink:\n  p: {type: http_pull, batch_size: 9, max_batch_size: 5}":        "sink.p.batch_size: 9 is over max_batch_size 5",
		"sink:\n  p: {type: http_pull, match: 'a..b'}\n":                         "sink.p.match[0]",
		"sink:\n  p: {type: http_pull, path: {extract: x, mark_processed: x}}\n": "extract and mark_processed are the same path",
		"sink:\n  api: {type: http_pull}\n":                                      "reserved",
		"streams:\n  s: {mode: push}\n":                                          `streams.s.mode: "push" is not one of stream, pull`,
		"streams:\n  s: {lease: 5s}\n":                                           "need mode: pull",
		"streams:\n  s: {mode: pull, init: last}\n":                              "a mode: pull stream has neither",
		"streams:\n  s: {mode: pull, format: raw}\n":                             "a pull stream's format is envelope or inboxclaw",
		"streams:\n  s: {init: first}\n":                                         `streams.s.init: "first" is not one of`,
		"streams:\n  s: {init: last, format: arrow}\n":                           "an arrow stream has no init event",
		"streams:\n  s: {keepalive_comment: \"a\\nb\"}\n":                        "streams.s.keepalive_comment: must be one line",
	} {
		_, err := config.Parse([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", in, err, want)
		}
	}
}

func TestInitAndKeepaliveDefaults(t *testing.T) {
	c, err := config.Parse([]byte("streams:\n  s: {init: last, heartbeat_style: comment}\n  t: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	st := c.AllStreams()
	if st[0].Init != "last" || st[0].InitMaxTopics != config.DefaultInitMaxTopics || st[0].KeepaliveComment != "keepalive" {
		t.Fatalf("init: last: %+v", st[0])
	}
	if st[1].Init != "" || st[1].InitMaxTopics != 0 {
		t.Fatalf("no init: %+v", st[1])
	}
}

// TestRecipeConfigs: every recipe's configuration in docs/recipes loads.
func TestRecipeConfigs(t *testing.T) {
	for _, name := range []string{"inboxclaw", "hantera", "hpbn", "boilstream"} {
		b, err := os.ReadFile("../docs/recipes/" + name + ".md")
		if err != nil {
			t.Fatal(err)
		}
		_, rest, ok := strings.Cut(string(b), "```yaml\n")
		block, _, _ := strings.Cut(rest, "```")
		if !ok {
			t.Fatalf("%s: no yaml block", name)
		}
		c, err := config.Parse([]byte(block))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(c.Warnings) != 0 {
			t.Errorf("%s: warnings %q", name, c.Warnings)
		}
	}
}
