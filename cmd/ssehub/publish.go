package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
)

func init() {
	register(command{name: "publish", summary: "publish an event to a topic", run: runPublish})
}

// stdin is where `ssehub publish TOPIC -` reads; tests replace it.
var stdin io.Reader = os.Stdin

const publishUsage = `usage: ssehub publish TOPIC [DATA | @FILE | -] [flags]
       ssehub publish --batch FILE|- [flags]

Publishes one event to TOPIC on the hub (POST {server}/publish/{TOPIC}).
DATA is sent as is; @FILE sends a file; - or nothing reads standard input.
Data that starts with "-" goes after "--": ssehub publish t.x -- -42
The body is sent unchanged. It is sent as JSON (Content-Type:
application/json, which the hub validates) only with --json: the content is
never guessed. --key is sent as the Idempotency-Key header.
--batch posts NDJSON envelopes ({"topic","type","data","key",…} one a
line) to POST {server}/publish, all or nothing.

Prints the id (or one id a line for --batch), with " (duplicate)" when the
key was already used, once the hub has stored the event durably.
Exit status: 0 stored, 1 refused by the hub or unreachable, 2 bad usage.

Examples:
  export SSEHUB_TOKEN=…   # a token that may publish, e.g. the admin token
  ssehub publish orders.paid '{"total":42}' --json
  ssehub publish orders.paid @order.json --json --key order-42
  echo hello | ssehub publish greetings
  ssehub publish --server localhost:9000 --type alert disk.full "95%"
  ssehub publish --batch events.ndjson
`

func runPublish(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("publish", flag.ContinueOnError)
	server := envStringVar(fs, "server", "SSEHUB_SERVER", defaultServer, "hub `URL`; host:port means http://host:port (default $SSEHUB_SERVER, else "+defaultServer+")")
	token := envStringVar(fs, "token", "SSEHUB_TOKEN", "", "`TOKEN` that may publish (default $SSEHUB_TOKEN); --token '' sends none")
	typ := fs.String("type", "", "event `TYPE`: the SSE event name subscribers see in raw format (default none: \"message\")")
	key := fs.String("key", "", "idempotency `KEY`: a repeat inside the hub's dedupe window returns the first id")
	entity := fs.String("entity", "", "entity `ID` stored with the event (the envelope's entity_id)")
	source := fs.String("source", "", "`NAME` of the source stored with the event (the envelope's source)")
	asJSON := fs.Bool("json", false, "send as application/json (the hub rejects invalid JSON)")
	batch := fs.String("batch", "", "publish the NDJSON envelopes of `FILE` (- for standard input) as one batch")
	pos, code, ok := parseArgs(fs, args, "publish", true, publishUsage, stderr)
	if !ok {
		return code
	}
	tok, _ := token.Get()
	stderr = newRedactWriter(stderr, tok)
	base, err := hubURL(server)
	if err != nil {
		return usageError(stderr, "publish", "%v", err)
	}
	var req *http.Request
	if *batch != "" {
		if len(pos) != 0 {
			return usageError(stderr, "publish", "--batch takes no TOPIC or DATA (each envelope names its topic), got %d arguments", len(pos))
		}
		body, err := readData(*batch, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "ssehub publish: %v\n", err)
			return 1
		}
		if req, err = http.NewRequestWithContext(ctx, "POST", base+"/publish", bytes.NewReader(body)); err != nil {
			fmt.Fprintf(stderr, "ssehub publish: %v\n", err)
			return 1
		}
		req.Header.Set("Content-Type", "application/x-ndjson")
	} else {
		switch {
		case len(pos) == 0:
			return usageError(stderr, "publish", "missing TOPIC: ssehub publish TOPIC [DATA | @FILE | -]")
		case len(pos) > 2:
			return usageError(stderr, "publish", "too many arguments (%d): want TOPIC and at most one DATA; quote DATA that holds spaces", len(pos))
		case pos[0] == "":
			return usageError(stderr, "publish", "TOPIC is empty")
		}
		src := "-"
		if len(pos) == 2 {
			src = pos[1]
		}
		var body []byte
		if src == "-" || strings.HasPrefix(src, "@") {
			if body, err = readData(strings.TrimPrefix(src, "@"), stderr); err != nil {
				fmt.Fprintf(stderr, "ssehub publish: %v\n", err)
				return 1
			}
		} else {
			body = []byte(src)
		}
		q := url.Values{}
		for k, v := range map[string]string{"type": *typ, "entity": *entity, "source": *source} {
			if v != "" {
				q.Set(k, v)
			}
		}
		u := base + "/publish/" + url.PathEscape(pos[0])
		if len(q) > 0 {
			u += "?" + q.Encode()
		}
		req, err = http.NewRequestWithContext(ctx, "POST", u, bytes.NewReader(body))
		if err != nil {
			fmt.Fprintf(stderr, "ssehub publish: %v\n", err)
			return 1
		}
		if *key != "" {
			req.Header.Set("Idempotency-Key", *key)
		}
		if *asJSON {
			req.Header.Set("Content-Type", "application/json")
		}
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "ssehub publish: %v\n", connectError(base, err, refusedHint))
		return 1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode/100 != 2 {
		fmt.Fprintf(stderr, "ssehub publish: %v\n", hubError(resp, b))
		if h := tokenHint(resp.StatusCode, b, tok != "", "a publish or admin token"); h != "" {
			fmt.Fprintf(stderr, "ssehub publish: %s\n", h)
		}
		return 1
	}
	var out struct {
		ID         string   `json:"id"`
		Duplicate  bool     `json:"duplicate"`
		IDs        []string `json:"ids"`
		Duplicates []string `json:"duplicates"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		fmt.Fprintf(stderr, "ssehub publish: unexpected answer %q\n", b)
		return 1
	}
	if *batch != "" {
		dup := map[string]bool{}
		for _, id := range out.Duplicates {
			dup[id] = true
		}
		for _, id := range out.IDs {
			if dup[id] {
				fmt.Fprintf(stdout, "%s (duplicate)\n", id)
			} else {
				fmt.Fprintln(stdout, id)
			}
		}
		return 0
	}
	if out.Duplicate {
		fmt.Fprintf(stdout, "%s (duplicate)\n", out.ID)
	} else {
		fmt.Fprintln(stdout, out.ID)
	}
	return 0
}

// readData reads a file, or standard input for "-". Reading a terminal,
// it says so on stderr first, since a forgotten DATA argument would
// otherwise look like a hang.
func readData(name string, stderr io.Writer) ([]byte, error) {
	if name == "-" {
		if f, ok := stdin.(*os.File); ok {
			if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
				fmt.Fprintln(stderr, "ssehub publish: reading the data from the terminal; end it with Ctrl-D")
			}
		}
		return io.ReadAll(stdin)
	}
	return os.ReadFile(name)
}
