package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
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
  ssehub token list
  ssehub token revoke ID

Over the API of a running hub (--server, default $SSEHUB_SERVER or http://localhost:8080,
with the admin token from --token or $SSEHUB_TOKEN), or with --data DIR directly against the
data directory of a stopped hub.
`

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stderr, tokenUsage)
		return 2
	}
	sub := args[0]
	fs := flag.NewFlagSet("token "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", envOr("SSEHUB_SERVER", "http://localhost:8080"), "hub URL")
	token := fs.String("token", os.Getenv("SSEHUB_TOKEN"), "admin token")
	data := fs.String("data", "", "data directory of a stopped hub (instead of --server)")
	var topics stringList
	purpose := fs.String("purpose", "", "stream, publish (alias ingest) or admin")
	fs.Var(&topics, "topic", "topic pattern the token may use (repeatable; default every topic)")
	ttl := fs.Duration("ttl", 0, "lifetime, e.g. 8h (default: no expiry)")
	label := fs.String("label", "", "a label to recognise the token by")
	jsonOut := fs.Bool("json", false, "print JSON")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return 2
	}
	var tc tokenClient
	if *data != "" {
		l, err := bolt.Open(*data, bolt.Options{OpenTimeout: time.Second})
		if err != nil {
			fmt.Fprintf(stderr, "ssehub token: open %s: %v (is a hub running on it? then use --server)\n", *data, err)
			return 1
		}
		defer l.Close()
		tc = offlineTokens{auth.NewStore(l)}
	} else {
		tc = apiTokens{server: strings.TrimRight(*server, "/"), token: *token}
	}

	var out []auth.Info
	switch sub {
	case "create":
		if len(pos) != 0 || *purpose == "" {
			fmt.Fprint(stderr, tokenUsage)
			return 2
		}
		var t auth.Info
		t, err = tc.create(ctx, *purpose, topics, *ttl, *label)
		out = []auth.Info{t}
	case "list":
		out, err = tc.list(ctx)
	case "revoke":
		if len(pos) != 1 {
			fmt.Fprint(stderr, tokenUsage)
			return 2
		}
		var t auth.Info
		t, err = tc.revoke(ctx, pos[0])
		out = []auth.Info{t}
	default:
		fmt.Fprintf(stderr, "ssehub token: unknown subcommand %q\n\n%s", sub, tokenUsage)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "ssehub token %s: %v\n", sub, err)
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Purpose, strings.Join(t.Topics, ","), t.Label, t.CreatedAt.Format(time.RFC3339), exp, state)
	}
	_ = tw.Flush()
	return 0
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
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
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode/100 != 2 {
		return httpError(resp, b)
	}
	return json.Unmarshal(b, out)
}

// httpError turns a hub's JSON error response into an error.
func httpError(resp *http.Response, body []byte) error {
	var e struct {
		Error struct{ Code, Message string }
	}
	if json.Unmarshal(body, &e) == nil && e.Error.Code != "" {
		return fmt.Errorf("%s %s: %s", resp.Status, e.Error.Code, e.Error.Message)
	}
	return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
}

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
	var out struct{ Tokens []auth.Info }
	err := a.do(ctx, "GET", "/api/tokens", nil, &out)
	return out.Tokens, err
}

func (a apiTokens) revoke(ctx context.Context, id string) (auth.Info, error) {
	var t auth.Info
	err := a.do(ctx, "DELETE", "/api/tokens/"+url.PathEscape(id), nil, &t)
	return t, err
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
