package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"regexp"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
)

// testSecret is a token-like secret that no output may ever show.
const testSecret = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// closedURL returns the URL of a loopback port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// noSecret fails the test when any of outs shows secret.
func noSecret(t *testing.T, what, secret string, outs ...string) {
	t.Helper()
	for _, o := range outs {
		if strings.Contains(o, secret) {
			t.Errorf("%s prints the secret:\n%s", what, o)
		}
	}
}

// helpCommands are every command and subcommand, asked for help.
var helpCommands = [][]string{
	{"-h"}, {"--help"}, {"help"}, {"help", "publish"}, {"help", "token", "create"},
	{"publish", "-h"}, {"publish", "--help"}, {"publish", "a.b", "--help"},
	{"tail", "-h"}, {"tail", "--help"}, {"tail", "http://localhost/events", "-h"},
	{"token", "-h"}, {"token", "--help"}, {"token", "help"},
	{"token", "create", "-h"}, {"token", "create", "--help"}, {"token", "list", "-h"}, {"token", "revoke", "--help"},
	{"bench", "-h"}, {"bench", "--help"}, {"bench", "fanout", "-h"}, {"bench", "idle", "--help"},
	{"version", "-h"}, {"version", "--help"},
	{"serve", "-h"}, {"serve", "--help"},
}

// TestHelpExitsZeroAndHidesSecrets: help of every command and subcommand
// exits 0, and with $SSEHUB_TOKEN set never shows it (it used to be printed
// as the --token default).
func TestHelpExitsZeroAndHidesSecrets(t *testing.T) {
	t.Setenv("SSEHUB_TOKEN", testSecret)
	t.Setenv("SSEHUB_SERVER", "http://admin:"+testSecret+"@localhost:8080")
	for _, args := range helpCommands {
		code, out, errOut := runCmd(t, args...)
		if code != 0 {
			t.Errorf("%q: exit %d, want 0; stderr:\n%s", args, code, errOut)
		}
		if !strings.Contains(strings.ToLower(errOut), "usage") {
			t.Errorf("%q: no usage in stderr:\n%s", args, errOut)
		}
		if out != "" {
			t.Errorf("%q: stdout %q", args, out)
		}
		noSecret(t, strings.Join(args, " ")+" help", testSecret, out, errOut)
	}
}

// TestHelpDescribesEveryFlag: each flag of the client commands has a
// description, the examples come last for publish, tail and token create,
// and token subcommands list only their own flags.
func TestHelpDescribesEveryFlag(t *testing.T) {
	flagLine := regexp.MustCompile(`^  -(\S+)(.*)$`)
	for _, args := range [][]string{{"publish"}, {"tail"}, {"token", "create"}, {"token", "list"}, {"token", "revoke"}, {"bench"}} {
		_, _, help := runCmd(t, append(args, "--help")...)
		lines := strings.Split(help, "\n")
		n := 0
		for i, l := range lines {
			m := flagLine.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			n++
			desc := strings.TrimSpace(m[2])
			if strings.HasPrefix(m[2], " ") || desc == "" { // "-name TYPE" then the description below
				if i+1 >= len(lines) || strings.TrimSpace(lines[i+1]) == "" {
					t.Errorf("%q: flag -%s has no description", args, m[1])
				}
			}
		}
		if n == 0 {
			t.Errorf("%q: no flags listed:\n%s", args, help)
		}
	}
	for _, args := range [][]string{{"publish"}, {"tail"}, {"token", "create"}} {
		_, _, help := runCmd(t, append(args, "--help")...)
		i := strings.Index(help, "\nExamples:\n")
		if i < 0 || strings.Contains(help[i:], "\n  -") || !strings.Contains(help[i:], "ssehub "+strings.Join(args, " ")) {
			t.Errorf("%q: want examples at the end:\n%s", args, help)
		}
	}
	_, _, list := runCmd(t, "token", "list", "--help")
	for _, f := range []string{"-ttl", "-topic", "-label"} {
		if strings.Contains(list, "  "+f+" ") {
			t.Errorf("token list --help lists create's flag %s:\n%s", f, list)
		}
	}
	if !strings.Contains(list, "-purpose") {
		t.Errorf("token list --help lacks its --purpose filter:\n%s", list)
	}
	_, _, tailHelp := runCmd(t, "tail", "--help")
	for _, s := range []string{"[id ID] [TOPIC] TYPE: DATA", `{"type":TYPE,"data":DATA,"id":ID}`, "format=envelope"} {
		if !strings.Contains(tailHelp, s) {
			t.Errorf("tail --help does not document the output %q", s)
		}
	}
}

// TestUsageErrorsSayWhy: bad usage exits 2 with one line saying what is
// wrong and one pointing to the command's help, never the whole usage and
// never the error twice.
func TestUsageErrorsSayWhy(t *testing.T) {
	t.Setenv("SSEHUB_TOKEN", testSecret)
	for _, c := range []struct {
		args []string
		cmd  string // the help the hint points to
		msg  string
	}{
		{[]string{"publish"}, "publish", "missing TOPIC"},
		{[]string{"publish", "a.b", "x", "y"}, "publish", "too many arguments (3)"},
		{[]string{"publish", "--bogus", "a.b"}, "publish", "flag provided but not defined: -bogus"},
		{[]string{"publish", "--batch", "-", "a.b"}, "publish", "--batch takes no TOPIC"},
		{[]string{"publish", "a.b", "x", "--key"}, "publish", "flag needs an argument: -key"},
		{[]string{"tail"}, "tail", "want exactly one URL"},
		{[]string{"tail", "http://127.0.0.1:1/", "--nope"}, "tail", "flag provided but not defined: -nope"},
		{[]string{"tail", "http://127.0.0.1:1/", "-H", "Authorization " + testSecret}, "tail", "want 'Key: Value'"},
		{[]string{"token", "create"}, "token create", "--purpose is required"},
		{[]string{"token", "create", "--purpose", "reader"}, "token create", `unknown purpose "reader"`},
		{[]string{"token", "create", "--purpose", "stream", "extra"}, "token create", `unexpected argument "extra"`},
		{[]string{"token", "list", "--ttl", "1h"}, "token list", "flag provided but not defined: -ttl"},
		{[]string{"token", "list", "--purpose", "nope"}, "token list", `unknown purpose "nope"`},
		{[]string{"token", "revoke"}, "token revoke", "want exactly one token ID"},
		{[]string{"token", "rotate"}, "token", `unknown subcommand "rotate"`},
		{[]string{"bench"}, "bench", "want one SCENARIO"},
		{[]string{"bench", "sprint"}, "bench", `unknown scenario "sprint"`},
		{[]string{"bench", "fanout", "--bogus"}, "bench", "flag provided but not defined: -bogus"},
		{[]string{"version", "now"}, "version", `unexpected argument "now"`},
	} {
		code, out, errOut := runCmd(t, c.args...)
		want := "ssehub " + c.cmd + ": "
		hint := "run 'ssehub " + c.cmd + " --help' for usage\n"
		if code != 2 || out != "" || !strings.HasPrefix(errOut, want) || !strings.HasSuffix(errOut, hint) ||
			strings.Count(errOut, "\n") != 2 || strings.Count(errOut, c.msg) != 1 {
			t.Errorf("%q: exit %d, stdout %q, stderr:\n%s\nwant exit 2 and %q…%q, then %q", c.args, code, out, errOut, want, c.msg, hint)
		}
		noSecret(t, strings.Join(c.args, " "), testSecret, errOut)
	}
	code, _, errOut := runCmd(t, "nosuch")
	if code != 2 || errOut != "ssehub: unknown command \"nosuch\"\nrun 'ssehub --help' for the commands\n" {
		t.Errorf("unknown command: %d %q", code, errOut)
	}
}

// TestServerURLForms: --server, $SSEHUB_SERVER and tail's URL accept
// host:port and :port (http://), and anything else invalid is a usage
// error that says what is wrong and what a valid value looks like.
func TestServerURLForms(t *testing.T) {
	base, _ := testHubServer(t, "url-admin")
	t.Setenv("SSEHUB_TOKEN", "url-admin")
	hostPort := strings.TrimPrefix(base, "http://")
	_, port, _ := net.SplitHostPort(hostPort)
	for i, server := range []string{hostPort, "127.0.0.1:" + port + "/", base} {
		if code, out, errOut := runCmd(t, "publish", "--server", server, "a.b", "x"); code != 0 || out != strconv.Itoa(i+1)+"\n" {
			t.Errorf("--server %s: %d %q %q", server, code, out, errOut)
		}
	}
	t.Setenv("SSEHUB_SERVER", hostPort)
	if code, out, errOut := runCmd(t, "token", "list"); code != 0 || !strings.HasPrefix(out, "ID") {
		t.Errorf("SSEHUB_SERVER=%s: %d %q %q", hostPort, code, out, errOut)
	}
	// :port means localhost:port; the hub listens on 127.0.0.1 only, which
	// localhost may not resolve to first, so only the URL is checked: the
	// failure, if any, is a connection to http://localhost:port.
	if code, _, errOut := runCmd(t, "publish", "--server", ":"+port, "a.b", "x"); code != 0 &&
		!strings.Contains(errOut, "could not connect to http://localhost:"+port) {
		t.Errorf("--server :%s: %d %q", port, code, errOut)
	}
	if code, out, errOut := tail(t, nil, hostPort+"/events?topic=a.b", "--jsonl", "--last-event-id", "0", "--max-events", "1"); code != 0 ||
		out != `{"type":"message","data":"x","id":"1"}`+"\n" {
		t.Errorf("tail %s: %d %q %q", hostPort, code, out, errOut)
	}

	for _, c := range []struct {
		env, flag, msg string
	}{
		{"", "http://a b", `--server "http://a b" is not a valid URL (invalid character " " in host name)`},
		{"", "ftp://hub", `--server "ftp://hub": scheme "ftp" is not supported, only http and https`},
		{"", "localhost:99999", "--server \"localhost:99999\": port 99999 is not a number from 1 to 65535"},
		{"", "localhost:8o8o", `--server "localhost:8o8o" is not a valid URL (invalid port ":8o8o" after host)`},
		{"", "http://", `--server "http://" has no host`},
		{"", " ", "--server is empty"},
		{"", "http://hub/?token=" + testSecret, `--server "http://hub/?token=REDACTED" has a query or fragment`},
		{"h o s t:1", "", `$SSEHUB_SERVER "h o s t:1" is not a valid URL`},
	} {
		t.Setenv("SSEHUB_SERVER", c.env)
		var server []string
		if c.flag != "" {
			server = []string{"--server", c.flag}
		}
		for _, cmd := range [][]string{{"publish", "a.b", "x"}, {"token", "list"}, {"bench", "idle"}} {
			cmd = append(cmd, server...)
			code, _, errOut := runCmd(t, cmd...)
			if code != 2 || !strings.Contains(errOut, c.msg) || !strings.Contains(errOut, "want a URL like http://localhost:8080") &&
				!strings.Contains(errOut, "e.g. http://localhost:8080") {
				t.Errorf("%q: exit %d, stderr %q; want 2 and %q with an example", cmd, code, errOut, c.msg)
			}
			noSecret(t, strings.Join(cmd, " "), testSecret, errOut)
		}
	}
	code, out, errOut := tail(t, nil, "localhost:http/events")
	if code != 2 || out != "" || !strings.Contains(errOut, `URL "localhost:http/events" is not a valid URL (invalid port ":http" after host)`) ||
		!strings.Contains(errOut, "want a URL like") {
		t.Errorf("tail bad URL: %d %q", code, errOut)
	}
}

// TestTailNeverConnected: a first connection that cannot be made says so,
// exits 1 and does not retry; it is not a "connection lost".
func TestTailNeverConnected(t *testing.T) {
	u := closedURL(t)
	for _, args := range [][]string{
		{u + "/events?topic=*&token=" + testSecret},
		{u + "/stream/" + testSecret, "--jsonl"},
		{u + "/events?topic=*", "--once", "--token", testSecret},
	} {
		start := time.Now()
		code, out, errOut := tail(t, nil, args...)
		if code != 1 || out != "" {
			t.Errorf("%q: exit %d, stdout %q; want 1", args, code, out)
		}
		want := "ssehub tail: could not connect to " + u + "/"
		if !strings.HasPrefix(errOut, want) || !strings.Contains(errOut, "connection refused") ||
			strings.Contains(errOut, "lost") || strings.Contains(errOut, "reconnecting") || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%q: stderr %q; want one line %q… connection refused", args, errOut, want)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%q: took %v: it waited to retry", args, d)
		}
		noSecret(t, strings.Join(args, " "), testSecret, errOut)
	}
}

// TestTailLostAndReconnect: once connected, a lost stream and failed
// reconnections are reported as such, and tail keeps trying.
func TestTailLostAndReconnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { // one stream with one event, then nothing listens any more
		c, err := ln.Accept()
		ln.Close()
		if err != nil {
			return
		}
		br := bufio.NewReader(c)
		http.ReadRequest(br)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\nretry: 10\ndata: a\n\n")
		c.Close()
	}()
	u := "http://" + ln.Addr().String() + "/"
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	code, out, errOut := tail(t, ctx, u)
	if code != 0 || out != "message: a\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	for _, want := range []string{
		"ssehub tail: connected to " + u,
		"ssehub tail: connection to " + u + " lost: the server ended the stream\n",
		"ssehub tail: could not reconnect to " + u + ": dial tcp",
		"reconnecting in 10ms",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut, "could not connect") || strings.Count(errOut, "could not reconnect") < 2 {
		t.Errorf("stderr:\n%s\nwant several failed reconnections, no \"could not connect\"", errOut)
	}
}

// TestTailTopicOutput: the human output of a hub's /events shows each
// event's topic with the data and type as published; --jsonl shows the
// events exactly as sent for the URL as given.
func TestTailTopicOutput(t *testing.T) {
	base, _ := testHubServer(t, "topic-admin")
	t.Setenv("SSEHUB_TOKEN", "topic-admin")
	t.Setenv("SSEHUB_SERVER", base)
	for _, args := range [][]string{
		{"publish", "orders.paid", `{"total":42}`, "--json", "--type", "paid"},
		{"publish", "greetings", "hello\nworld"},
		{"publish", "greetings", `{"nested":{"a":[1,2]}}`},
	} {
		if code, _, errOut := runCmd(t, args...); code != 0 {
			t.Fatalf("%q: %s", args, errOut)
		}
	}
	events := base + "/events?topic=*"
	code, out, errOut := tail(t, nil, events, "--last-event-id", "0", "--max-events", "3")
	want := "[id 1] [orders.paid] paid: {\"total\":42}\n" +
		"[id 2] [greetings] message: hello\n  world\n" +
		"[id 3] [greetings] message: {\"nested\":{\"a\":[1,2]}}\n"
	if code != 0 || out != want {
		t.Fatalf("human: exit %d\n%s\nwant\n%s\nstderr %s", code, out, want, errOut)
	}
	if !strings.Contains(errOut, "format=envelope") {
		t.Errorf("stderr does not show the URL it streams: %s", errOut)
	}
	// The same events in raw format, exactly as sent: --jsonl leaves the
	// URL alone.
	code, out, _ = tail(t, nil, events, "--jsonl", "--last-event-id", "0", "--max-events", "3")
	wantJSONL := `{"type":"paid","data":"{\"total\":42}","id":"1"}` + "\n" +
		`{"type":"message","data":"hello\nworld","id":"2"}` + "\n" +
		`{"type":"message","data":"{\"nested\":{\"a\":[1,2]}}","id":"3"}` + "\n"
	if code != 0 || out != wantJSONL {
		t.Fatalf("jsonl: exit %d\n%s\nwant\n%s", code, out, wantJSONL)
	}
	// An explicit format= is kept: envelopes are shown whole, with the topic.
	code, out, _ = tail(t, nil, events+"&format=envelope", "--last-event-id", "1", "--max-events", "1")
	if code != 0 || !strings.HasPrefix(out, `[id 2] [greetings] message: {"id":2,"event_id":null,"event_type":"greetings"`) {
		t.Fatalf("explicit envelope: %d %q", code, out)
	}
	code, out, _ = tail(t, nil, events+"&format=raw", "--last-event-id", "0", "--max-events", "1")
	if code != 0 || out != "[id 1] paid: {\"total\":42}\n" {
		t.Fatalf("explicit raw: %d %q", code, out)
	}
	// --jsonl of an envelope stream is the envelope, untouched.
	code, out, _ = tail(t, nil, events+"&format=envelope", "--jsonl", "--last-event-id", "1", "--max-events", "1")
	var line struct{ Type, Data, ID string }
	if code != 0 || json.Unmarshal([]byte(out), &line) != nil || line.Type != "message" || line.ID != "2" ||
		!strings.HasPrefix(line.Data, `{"id":2,"event_id":null,"event_type":"greetings"`) {
		t.Fatalf("jsonl envelope: %d %q", code, out)
	}
}

// TestEnvelopeURL: only a hub's /events URL with ?topic= and no format=
// is changed.
func TestEnvelopeURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://h/events?topic=*":               "http://h/events?topic=*&format=envelope",
		"http://h/prefix/events?topic=a&x=1":    "http://h/prefix/events?topic=a&x=1&format=envelope",
		"http://h/events?topic=*&format=raw":    "",
		"http://h/events":                       "",
		"http://h/alerts/live?topic=*":          "",
		"http://h/stream/abc":                   "",
		"http://h/events/more?topic=a":          "",
		"http://h/events?topic=a&format=":       "",
		"http://h/events?topic=a#frag":          "http://h/events?topic=a&format=envelope#frag",
		"http://h/events?other=1&topic=b&topic": "http://h/events?other=1&topic=b&topic&format=envelope",
	} {
		got, ok := envelopeURL(in)
		if want == "" {
			if ok || got != in {
				t.Errorf("%s: changed to %s", in, got)
			}
		} else if !ok || got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

// TestHubErrorsShown: each command shows the hub's JSON error (code and
// message), says how to pass a token when that is the problem, and never
// shows a raw Go HTTP error.
func TestHubErrorsShown(t *testing.T) {
	base, l := testHubServer(t, "err-admin")
	t.Setenv("SSEHUB_TOKEN", "")
	t.Setenv("SSEHUB_SERVER", base)
	code, out, _ := runCmd(t, "token", "create", "--purpose", "stream", "--token", "err-admin")
	stream := strings.TrimSpace(out)
	if code != 0 || len(stream) != 64 {
		t.Fatalf("create: %d %q", code, out)
	}
	down := closedURL(t)
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"publish", "a.b", "x"}, []string{
			"ssehub publish: 401 Unauthorized UNAUTHORIZED: a token is required",
			"no token was sent: pass a publish or admin token with --token or set SSEHUB_TOKEN"}},
		{[]string{"publish", "a.b", "x", "--token", stream}, []string{
			"ssehub publish: 403 Forbidden FORBIDDEN: the token's purpose is stream; this needs publish",
			"it needs a publish or admin token"}},
		{[]string{"publish", "a.b", "x", "--server", down, "--token", testSecret}, []string{
			"ssehub publish: could not connect to " + down + ": dial tcp", "connection refused (is the hub running there?"}},
		{[]string{"token", "list"}, []string{
			"ssehub token list: 401 Unauthorized UNAUTHORIZED: a token is required",
			"no token was sent: pass the admin token"}},
		{[]string{"token", "list", "--token", stream}, []string{
			"ssehub token list: 403 Forbidden FORBIDDEN: the token's purpose is stream; this needs admin"}},
		{[]string{"token", "revoke", "tok_nope", "--token", "err-admin"}, []string{
			"ssehub token revoke: 404 Not Found NOT_FOUND: no token tok_nope"}},
		{[]string{"token", "create", "--purpose", "admin", "--topic", "a..b", "--token", "err-admin"}, []string{
			"ssehub token create: 400 Bad Request BAD_PATTERN: "}},
		{[]string{"token", "list", "--server", down}, []string{
			"ssehub token list: could not connect to " + down + ": dial tcp", "connection refused"}},
		{[]string{"tail", base + "/events?topic=*"}, []string{
			"ssehub tail: connection to " + base + "/events?topic=*&format=envelope failed: HTTP 401 Unauthorized: UNAUTHORIZED: a token is required",
			"no token was sent: pass a token that may subscribe to these topics with --token or set SSEHUB_TOKEN"}},
		{[]string{"tail", base + "/events?topic=*&token=" + testSecret, "--jsonl"}, []string{
			"ssehub tail: connection to " + base + "/events?topic=*&token=REDACTED failed: HTTP 401 Unauthorized: UNAUTHORIZED: unknown token",
			"the hub refused the token"}},
		{[]string{"tail", base + "/stream/" + testSecret}, []string{
			"ssehub tail: connection to " + base + "/stream/REDACTED failed: HTTP 401 Unauthorized: UNAUTHORIZED: unknown token"}},
		{[]string{"bench", "idle"}, []string{
			"ssehub bench idle: the hub refused to let the bench subscribe: 401 Unauthorized UNAUTHORIZED: a token is required",
			"no token was sent: pass a token that may publish and subscribe (e.g. the admin token) with --token or set SSEHUB_TOKEN"}},
		{[]string{"bench", "publish", "--token", stream}, []string{
			"ssehub bench publish: the hub refused to let the bench publish: 403 Forbidden FORBIDDEN: the token's purpose is stream; this needs publish"}},
		{[]string{"bench", "fanout", "--server", down, "--token", testSecret}, []string{
			"ssehub bench fanout: could not connect to " + down + ": dial tcp", "connection refused"}},
	} {
		code, out, errOut := runCmd(t, c.args...)
		if code != 1 || out != "" {
			t.Errorf("%q: exit %d, stdout %q, want 1", c.args, code, out)
		}
		for _, w := range c.want {
			if !strings.Contains(errOut, w) {
				t.Errorf("%q: stderr lacks %q:\n%s", c.args, w, errOut)
			}
		}
		for _, raw := range []string{`Post "`, `Get "`, "transfer encoding", `{"error"`} {
			if strings.Contains(errOut, raw) {
				t.Errorf("%q: stderr shows a raw error (%s):\n%s", c.args, raw, errOut)
			}
		}
		noSecret(t, strings.Join(c.args, " "), testSecret, out, errOut)
		noSecret(t, strings.Join(c.args, " "), stream, errOut)
	}
	// The bench's checks published nothing.
	var n int
	l.Read(context.Background(), 0, ssehub.All(), func(*ssehub.Event) error { n++; return nil })
	if n != 0 {
		t.Errorf("%d events stored by failed runs", n)
	}
}

// TestBenchPreflightLetsAGoodRunThrough: with a token that may publish and
// subscribe the checks pass, the run happens, and they store nothing.
func TestBenchPreflightLetsAGoodRunThrough(t *testing.T) {
	base, l := testHubServer(t, "bench-admin")
	code, out, errOut := runCmd(t, "bench", "publish", "--server", base, "--token", "bench-admin",
		"--duration", "100ms", "--publishers", "1")
	if code != 0 || !strings.Contains(out, `"scenario":"publish"`) {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	noSecret(t, "bench", "bench-admin", out, errOut)
	l.Read(context.Background(), 0, ssehub.All(), func(e *ssehub.Event) error {
		if strings.Contains(e.Topic, "preflight") {
			t.Fatalf("the preflight stored %q", e.Topic)
		}
		return nil
	})
}

// TestTokenListPurpose: --purpose filters the list (ingest is publish).
func TestTokenListPurpose(t *testing.T) {
	base, _ := testHubServer(t, "list-admin")
	t.Setenv("SSEHUB_SERVER", base)
	t.Setenv("SSEHUB_TOKEN", "list-admin")
	for _, p := range []string{"stream", "publish", "ingest", "stream", "admin"} {
		if code, _, errOut := runCmd(t, "token", "create", "--purpose", p, "--label", "l-"+p); code != 0 {
			t.Fatalf("create %s: %s", p, errOut)
		}
	}
	count := func(args ...string) map[string]int {
		code, out, errOut := runCmd(t, append([]string{"token", "list", "--json"}, args...)...)
		if code != 0 {
			t.Fatalf("list %q: %d %s", args, code, errOut)
		}
		got := map[string]int{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var info struct{ Purpose string }
			if err := json.Unmarshal([]byte(line), &info); err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			got[info.Purpose]++
		}
		return got
	}
	for _, c := range []struct {
		args []string
		want map[string]int
	}{
		{nil, map[string]int{"stream": 2, "publish": 2, "admin": 1}},
		{[]string{"--purpose", "stream"}, map[string]int{"stream": 2}},
		{[]string{"--purpose", "ingest"}, map[string]int{"publish": 2}},
		{[]string{"--purpose", "admin"}, map[string]int{"admin": 1}},
	} {
		if got := count(c.args...); len(got) != len(c.want) || func() bool {
			for k, v := range c.want {
				if got[k] != v {
					return true
				}
			}
			return false
		}() {
			t.Errorf("list %q: %v, want %v", c.args, got, c.want)
		}
	}
	code, out, _ := runCmd(t, "token", "list", "--purpose", "stream")
	if code != 0 || strings.Count(out, "\n") != 3 || strings.Contains(out, "l-publish") || !strings.Contains(out, "l-stream") {
		t.Errorf("table: %d\n%s", code, out)
	}
}

// TestTokenCreateTTL: --ttl must be positive and at most 100 years; left
// out, the token never expires.
func TestTokenCreateTTL(t *testing.T) {
	base, _ := testHubServer(t, "ttl-admin")
	t.Setenv("SSEHUB_SERVER", base)
	t.Setenv("SSEHUB_TOKEN", "ttl-admin")
	for _, ttl := range []string{"-1h", "0s", "0", "-1ns", "876001h", "2562047h"} {
		code, out, errOut := runCmd(t, "token", "create", "--purpose", "stream", "--ttl", ttl)
		if code != 2 || out != "" || !strings.Contains(errOut, "want a lifetime from 1s to 100 years (876000h)") ||
			!strings.Contains(errOut, "leave --ttl out for a token that never expires") {
			t.Errorf("--ttl %s: exit %d, stdout %q, stderr %q", ttl, code, out, errOut)
		}
		// Offline too, before the data directory is touched.
		if code, _, errOut := runCmd(t, "token", "create", "--purpose", "stream", "--ttl", ttl, "--data", t.TempDir()); code != 2 {
			t.Errorf("--ttl %s --data: exit %d, %s", ttl, code, errOut)
		}
	}
	for _, c := range []struct {
		args    []string
		expires time.Duration // 0: never
	}{
		{nil, 0},
		{[]string{"--ttl", "8h"}, 8 * time.Hour},
		{[]string{"--ttl", "876000h"}, 876000 * time.Hour},
	} {
		code, out, errOut := runCmd(t, append([]string{"token", "create", "--purpose", "stream", "--json"}, c.args...)...)
		var info struct {
			CreatedAt time.Time `json:"created_at"`
			ExpiresAt time.Time `json:"expires_at"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &info) != nil {
			t.Fatalf("%q: %d %q %q", c.args, code, out, errOut)
		}
		if got := info.ExpiresAt.Sub(info.CreatedAt); c.expires == 0 && !info.ExpiresAt.IsZero() || c.expires != 0 && (got < c.expires-time.Second || got > c.expires+time.Second) {
			t.Errorf("%q: expires %v after creation, want %v", c.args, got, c.expires)
		}
	}
	code, out, _ := runCmd(t, "token", "list")
	if code != 0 || strings.Count(out, "\n") != 4 || strings.Count(out, "never") != 1 {
		t.Errorf("list after the refused creations:\n%s", out)
	}
}

// TestVersion: the version comes from the build information: the module
// version, else devel with the revision, dirty flag and commit time; the Go
// version always.
func TestVersion(t *testing.T) {
	code, out, errOut := runCmd(t, "version")
	want := " " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if code != 0 || !strings.HasPrefix(out, "ssehub ") || !strings.HasSuffix(out, want) || errOut != "" {
		t.Fatalf("version: %d %q %q, want ssehub … %q", code, out, errOut, want)
	}
	if strings.TrimSpace(out) == "ssehub devel" {
		t.Fatal("no Go version")
	}

	parse := func(s string) *debug.BuildInfo {
		t.Helper()
		bi, err := debug.ParseBuildInfo(strings.ReplaceAll(s, "|", "\t"))
		if err != nil {
			t.Fatal(err)
		}
		return bi
	}
	const head = "go|go1.26.8\npath|github.com/ssehub/ssehub/cmd/ssehub\n"
	for _, c := range []struct {
		name, info, override, want string
	}{
		{"module", head + "mod|github.com/ssehub/ssehub|v1.2.3|h1:abc=\nbuild|GOARCH=arm64\nbuild|GOOS=darwin\n", "",
			"v1.2.3 go1.26.8 darwin/arm64"},
		{"checkout", head + "mod|github.com/ssehub/ssehub|(devel)\nbuild|GOARCH=amd64\nbuild|GOOS=linux\nbuild|vcs=git\n" +
			"build|vcs.revision=d739fe2fdf643b93cce724b5dd3ebfe6a8bd0e1e\nbuild|vcs.time=2026-11-22T10:15:00Z\nbuild|vcs.modified=true\n", "",
			"devel d739fe2fdf64 dirty 2026-11-22T10:15:00Z go1.26.8 linux/amd64"},
		{"clean checkout with a pseudo-version", head + "mod|github.com/ssehub/ssehub|v0.0.0-20261122101500-d739fe2fdf64\nbuild|GOARCH=amd64\nbuild|GOOS=linux\n" +
			"build|vcs.revision=d739fe2fdf643b93cce724b5dd3ebfe6a8bd0e1e\nbuild|vcs.time=2026-11-22T10:15:00Z\nbuild|vcs.modified=false\n", "",
			"devel d739fe2fdf64 2026-11-22T10:15:00Z go1.26.8 linux/amd64"},
		{"tagged checkout", head + "mod|github.com/ssehub/ssehub|v1.3.0\nbuild|GOARCH=amd64\nbuild|GOOS=linux\n" +
			"build|vcs.revision=d739fe2fdf643b93cce724b5dd3ebfe6a8bd0e1e\nbuild|vcs.time=2026-11-22T10:15:00Z\nbuild|vcs.modified=false\n", "",
			"v1.3.0 d739fe2fdf64 2026-11-22T10:15:00Z go1.26.8 linux/amd64"},
		{"pseudo-version module", head + "mod|github.com/ssehub/ssehub|v0.0.0-20261122101500-d739fe2fdf64|h1:x=\nbuild|GOARCH=amd64\nbuild|GOOS=linux\n", "",
			"v0.0.0-20261122101500-d739fe2fdf64 go1.26.8 linux/amd64"},
		{"ldflags", head + "mod|github.com/ssehub/ssehub|(devel)\nbuild|GOARCH=amd64\nbuild|GOOS=linux\n", "v9.9.9",
			"v9.9.9 go1.26.8 linux/amd64"},
	} {
		if got := versionString(parse(c.info), c.override); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	if got, want := versionString(nil, ""), "devel "+runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH; got != want {
		t.Errorf("no build info: %q, want %q", got, want)
	}
}

// TestRedaction: URL secrets are hidden in any text, and the writer hides
// the tokens it was given.
func TestRedaction(t *testing.T) {
	for in, want := range map[string]string{
		`Get "http://h/events?topic=*&token=abc": refused`: `Get "http://h/events?topic=*&token=REDACTED": refused`,
		"http://h/events?token=abc&topic=x":                "http://h/events?token=REDACTED&topic=x",
		"http://h/stream/abc?x=1":                          "http://h/stream/REDACTED?x=1",
		"http://user:pw@h:80/x":                            "http://user:REDACTED@h:80/x",
		"http://h:80/x@y":                                  "http://h:80/x@y",
		"no URL here":                                      "no URL here",
		"send ?token=<token> or a cookie":                  "send ?token=<token> or a cookie",
	} {
		if got := redactText(in); got != want {
			t.Errorf("redactText(%q) = %q, want %q", in, got, want)
		}
	}
	var b strings.Builder
	w := newRedactWriter(&b, testSecret, "", "short")
	io.WriteString(w, "a "+testSecret+" b short x")
	if b.String() != "a REDACTED b short x" {
		t.Errorf("redactWriter: %q", b.String())
	}
}
