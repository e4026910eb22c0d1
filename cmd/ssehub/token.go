package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/bolt"
)

func init() {
	register(command{name: "token", summary: "create, list and revoke tokens", run: runToken})
}

const tokenUsage = `usage:
  ssehub token create --purpose stream|publish|ingest|admin [--topic PATTERN]... [--ttl 8h] [--label L]
  ssehub token list [--purpose P]
  ssehub token revoke ID

Manages the hub's tokens: over the API of a running hub (--server, default
$SSEHUB_SERVER or ` + defaultServer + `, with the admin token from --token or
$SSEHUB_TOKEN), or with --data DIR directly in the data directory of a
stopped hub. Run 'ssehub token SUBCOMMAND --help' for a subcommand's flags.
`

// tokenHelp is each subcommand's help; their flags follow it.
var tokenHelp = map[string]string{
	"create": `usage: ssehub token create --purpose stream|publish|ingest|admin [--topic PATTERN]... [--ttl DURATION] [--label L] [flags]

Creates a token and prints it on stdout, once: only its hash is kept. A
stream token may subscribe, a publish (alias ingest) token may publish, an
admin token may do everything, including managing tokens. --topic limits it
to topic patterns (default every topic); --ttl makes it expire (default
never). Needs the admin token (--token or $SSEHUB_TOKEN), or --data DIR.

Examples:
  ssehub token create --purpose stream --topic 'orders.*' --ttl 8h --label dashboard
  ssehub token create --purpose publish --topic orders.created --topic orders.paid
  ssehub token create --purpose admin --json
  ssehub token create --purpose publish --data ./data    # the hub is stopped
`,
	"list": `usage: ssehub token list [--purpose stream|publish|ingest|admin] [flags]

Lists the tokens (never their secrets) with their purpose, topics, label,
creation and expiry times and state (active, expired, revoked). Needs the
admin token (--token or $SSEHUB_TOKEN), or --data DIR.
`,
	"revoke": `usage: ssehub token revoke ID [flags]

Revokes the token with id ID (tok_…, as 'ssehub token list' shows it);
streams open with it are closed. Needs the admin token (--token or
$SSEHUB_TOKEN), or --data DIR.
`,
}

// maxTTL bounds --ttl: a longer lifetime is surely a typo, and a token
// that should never expire is made by leaving --ttl out.
const maxTTL = 100 * 365 * 24 * time.Hour

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, tokenUsage)
		return usageError(stderr, "token", "missing subcommand: create, list or revoke")
	}
	sub := args[0]
	switch sub {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stderr, tokenUsage)
		return 0
	}
	help, ok := tokenHelp[sub]
	if !ok {
		return usageError(stderr, "token", "unknown subcommand %q: want create, list or revoke", sub)
	}
	name := "token " + sub
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	server := envStringVar(fs, "server", "SSEHUB_SERVER", defaultServer, "hub `URL`; host:port means http://host:port (default $SSEHUB_SERVER, else "+defaultServer+")")
	token := envStringVar(fs, "token", "SSEHUB_TOKEN", "", "the hub's admin `TOKEN` (default $SSEHUB_TOKEN)")
	data := fs.String("data", "", "work in the data `DIR` of a stopped hub instead of over --server")
	jsonOut := fs.Bool("json", false, "print JSON, one object a line")
	var (
		topics  stringList
		purpose *string
		ttl     *time.Duration
		label   *string
	)
	switch sub {
	case "create":
		purpose = fs.String("purpose", "", "what the token may do (required): `PURPOSE` stream, publish (alias ingest) or admin")
		fs.Var(&topics, "topic", "topic `PATTERN` the token may use, e.g. orders.* (repeatable; default every topic)")
		ttl = fs.Duration("ttl", 0, "lifetime, a `DURATION` from 1s to 100 years (876000h), e.g. 8h or 720h (default: never expires)")
		label = fs.String("label", "", "a `LABEL` to recognise the token by in 'ssehub token list'")
	case "list":
		purpose = fs.String("purpose", "", "list only tokens of `PURPOSE` stream, publish (alias ingest) or admin (default all)")
	}
	pos, code, ok := parseArgs(fs, args[1:], name, true, help, stderr)
	if !ok {
		return code
	}
	tok, _ := token.Get()
	stderr = newRedactWriter(stderr, tok)

	var want auth.Purpose // create's purpose, or list's filter
	if purpose != nil && *purpose != "" {
		p, err := auth.ParsePurpose(*purpose)
		if err != nil {
			return usageError(stderr, name, "--purpose: %v", err)
		}
		want = p
	}
	switch sub {
	case "create":
		if len(pos) != 0 {
			return usageError(stderr, name, "unexpected argument %q: the token's settings are flags", pos[0])
		}
		if want == "" {
			return usageError(stderr, name, "--purpose is required: stream (subscribe), publish (alias ingest) or admin")
		}
		ttlSet := false
		fs.Visit(func(f *flag.Flag) { ttlSet = ttlSet || f.Name == "ttl" })
		if ttlSet && (*ttl <= 0 || *ttl > maxTTL) {
			return usageError(stderr, name, "--ttl %v: want a lifetime from 1s to 100 years (876000h), e.g. 8h or 720h; leave --ttl out for a token that never expires", *ttl)
		}
	case "list":
		if len(pos) != 0 {
			return usageError(stderr, name, "unexpected argument %q", pos[0])
		}
	case "revoke":
		if len(pos) != 1 {
			return usageError(stderr, name, "want exactly one token ID (tok_…, see 'ssehub token list'), got %d arguments", len(pos))
		}
	}

	var tc tokenClient
	if *data != "" {
		l, err := openOffline(ctx, *data)
		if err != nil {
			fmt.Fprintf(stderr, "ssehub %s: open %s: %v (is a hub running on it? then use --server)\n", name, *data, err)
			return 1
		}
		defer l.Close()
		tc = offlineTokens{auth.NewStore(l)}
	} else {
		base, err := hubURL(server)
		if err != nil {
			return usageError(stderr, name, "%v", err)
		}
		tc = apiTokens{server: base, token: tok}
	}

	var out []auth.Info
	var err error
	switch sub {
	case "create":
		var t auth.Info
		t, err = tc.create(ctx, string(want), topics, *ttl, *label)
		out = []auth.Info{t}
	case "list":
		out, err = tc.list(ctx)
		if want != "" {
			kept := out[:0]
			for _, t := range out {
				if auth.Purpose(t.Purpose) == want {
					kept = append(kept, t)
				}
			}
			out = kept
		}
	case "revoke":
		var t auth.Info
		t, err = tc.revoke(ctx, pos[0])
		out = []auth.Info{t}
	}
	if err != nil {
		fmt.Fprintf(stderr, "ssehub %s: %v\n", name, err)
		var he *hubAnswerError
		if errors.As(err, &he) {
			if h := tokenHint(he.status, he.body, tok != "", "the admin token ('ssehub serve' prints it at its first start)"); h != "" {
				fmt.Fprintf(stderr, "ssehub %s: %s\n", name, h)
			}
		}
		return 1
	}
	if *jsonOut {
		enc := json.NewEncoder(stdout)
		for _, t := range out {
			_ = enc.Encode(t)
		}
		return 0
	}
	if sub == "create" {
		t := out[0]
		fmt.Fprintf(stdout, "%s\n", t.Token)
		fmt.Fprintf(stderr, "created %s (purpose %s, topics %s); the token above is shown only once\n", t.ID, t.Purpose, strings.Join(t.Topics, ","))
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPURPOSE\tTOPICS\tLABEL\tCREATED\tEXPIRES\tSTATE")
	for _, t := range out {
		state := "active"
		switch {
		case !t.RevokedAt.IsZero():
			state = "revoked"
		case !t.ExpiresAt.IsZero() && time.Now().After(t.ExpiresAt):
			state = "expired"
		}
		exp := "never"
		if !t.ExpiresAt.IsZero() {
			exp = t.ExpiresAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", shown(t.ID), shown(t.Purpose), shown(strings.Join(t.Topics, ",")), shown(t.Label),
			t.CreatedAt.Format(time.RFC3339), exp, state)
	}
	_ = tw.Flush()
	return 0
}

// shown returns a field of a token record for the terminal: as it is when
// it is printable text, else Go-quoted, so that a record holding terminal
// escapes, a newline or a bidirectional override (written before labels
// were checked, or by hand) is read, never acted on by the terminal.
func shown(s string) string {
	if auth.ValidateLabel(s) == nil {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

type tokenClient interface {
	create(ctx context.Context, purpose string, topics []string, ttl time.Duration, label string) (auth.Info, error)
	list(ctx context.Context) ([]auth.Info, error)
	revoke(ctx context.Context, id string) (auth.Info, error)
}

// apiTokens manages tokens over a running hub's API.
type apiTokens struct{ server, token string }

func (a apiTokens) do(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.server+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return connectError(a.server, err, refusedHint)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode/100 != 2 {
		return &hubAnswerError{status: resp.StatusCode, body: b, err: hubError(resp, b)}
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("unexpected answer from %s%s: %w", a.server, path, err)
	}
	return nil
}

// hubAnswerError is a hub's refusal of an API request, kept with its
// status and body for hints.
type hubAnswerError struct {
	status int
	body   []byte
	err    error
}

// Error is the hub's answer: status, code and message.
func (e *hubAnswerError) Error() string { return e.err.Error() }

// Unwrap returns the described answer.
func (e *hubAnswerError) Unwrap() error { return e.err }

func (a apiTokens) create(ctx context.Context, purpose string, topics []string, ttl time.Duration, label string) (auth.Info, error) {
	var t auth.Info
	req := map[string]any{"purpose": purpose, "topics": topics, "label": label}
	if ttl > 0 {
		req["ttl"] = ttl.String()
	}
	err := a.do(ctx, "POST", "/api/tokens", req, &t)
	return t, err
}

func (a apiTokens) list(ctx context.Context) ([]auth.Info, error) {
	var all []auth.Info
	path := "/api/tokens"
	for {
		var out struct {
			Tokens []auth.Info
			Next   string
		}
		if err := a.do(ctx, "GET", path, nil, &out); err != nil {
			return all, err
		}
		all = append(all, out.Tokens...)
		if out.Next == "" {
			return all, nil
		}
		path = "/api/tokens?after=" + url.QueryEscape(out.Next)
	}
}

func (a apiTokens) revoke(ctx context.Context, id string) (auth.Info, error) {
	var t auth.Info
	err := a.do(ctx, "DELETE", "/api/tokens/"+url.PathEscape(id), nil, &t)
	return t, err
}

// openOffline opens a stopped hub's data directory with the store it
// holds: pebble's when it has a pebble/ directory (through the driver
// registry, so only a build with -tags pebble can), else bolt's.
func openOffline(ctx context.Context, dir string) (ssehub.Store, error) {
	if fileExists(filepath.Join(dir, "pebble")) && !fileExists(filepath.Join(dir, bolt.FileName)) {
		return ssehub.OpenStore(ctx, "pebble", ssehub.StoreConfig{Path: dir, Logger: slog.New(slog.DiscardHandler)})
	}
	return bolt.Open(dir, bolt.Options{OpenTimeout: time.Second})
}

// offlineTokens manages tokens in a stopped hub's data directory.
type offlineTokens struct{ s *auth.Store }

func (o offlineTokens) create(ctx context.Context, purpose string, topics []string, ttl time.Duration, label string) (auth.Info, error) {
	p, err := auth.ParsePurpose(purpose)
	if err != nil {
		return auth.Info{}, err
	}
	secret, t, err := o.s.Create(ctx, auth.CreateOptions{Purpose: p, Topics: topics, TTL: ttl, Label: label})
	if err != nil {
		return auth.Info{}, err
	}
	r := t.Info()
	r.Token = secret
	return r, nil
}

func (o offlineTokens) list(ctx context.Context) ([]auth.Info, error) {
	ts, err := o.s.List(ctx)
	out := make([]auth.Info, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.Info())
	}
	return out, err
}

func (o offlineTokens) revoke(ctx context.Context, id string) (auth.Info, error) {
	t, err := o.s.Revoke(ctx, id)
	if errors.Is(err, ssehub.ErrNotFound) {
		return auth.Info{}, fmt.Errorf("no token %s", id)
	}
	return t.Info(), err
}
