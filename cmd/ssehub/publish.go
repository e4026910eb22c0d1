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
)

func init() {
	register(command{name: "publish", summary: "publish an event to a topic", run: runPublish})
}

// stdin is where `ssehub publish TOPIC -` reads; tests replace it.
var stdin io.Reader = os.Stdin

const publishUsage = `usage: ssehub publish TOPIC [DATA | @FILE | -] [flags]
       ssehub publish --batch FILE|- [flags]

DATA is sent as is; @FILE sends a file; - or nothing reads standard input.
Data that starts with "-" goes after "--": ssehub publish t.x -- -42
The body goes to POST {server}/publish/{TOPIC} unchanged. It is sent as JSON
(Content-Type: application/json, which the hub validates) only with --json:
the content is never guessed. --key is sent as the Idempotency-Key header.
--batch posts NDJSON envelopes ({"topic","type","data","key",…} one a line), all or nothing.
Prints the id (or one id a line for --batch), with " (duplicate)" when the key
was already used, once the hub has stored the event durably.
Exit status: 0 stored, 1 refused by the hub or unreachable, 2 bad usage.
$SSEHUB_SERVER and $SSEHUB_TOKEN are the defaults of --server and --token.

`

func runPublish(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("publish", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, publishUsage); fs.PrintDefaults() }
	server := fs.String("server", envOr("SSEHUB_SERVER", "http://localhost:8080"), "hub URL")
	token := fs.String("token", os.Getenv("SSEHUB_TOKEN"), "token that may publish")
	typ := fs.String("type", "", "SSE event name in raw format")
	key := fs.String("key", "", "idempotency key (a repeat inside the dedupe window returns the first id)")
	entity := fs.String("entity", "", "entity id for the envelope")
	source := fs.String("source", "", "source name for the envelope")
	asJSON := fs.Bool("json", false, "send as application/json (the hub rejects invalid JSON)")
	batch := fs.String("batch", "", "NDJSON file of envelopes to publish as one batch (- for stdin)")
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	base := strings.TrimRight(*server, "/")
	var req *http.Request
	if *batch != "" {
		if len(pos) != 0 {
			fs.Usage()
			return 2
		}
		body, err := readData(*batch, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "ssehub publish: %v\n", err)
			return 1
		}
		if req, err = http.NewRequestWithContext(ctx, "POST", base+"/publish", bytes.NewReader(body)); err != nil {
			fmt.Fprintf(stderr, "ssehub publish: %v\n", err)
			return 2
		}
		req.Header.Set("Content-Type", "application/x-ndjson")
	} else {
		if len(pos) < 1 || len(pos) > 2 {
			fs.Usage()
			return 2
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
			return 2
		}
		if *key != "" {
			req.Header.Set("Idempotency-Key", *key)
		}
		if *asJSON {
			req.Header.Set("Content-Type", "application/json")
		}
	}
	if *token != "" {
		req.Header.Set("Authorization", "Bearer "+*token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "ssehub publish: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode/100 != 2 {
		fmt.Fprintf(stderr, "ssehub publish: %v\n", httpError(resp, b))
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
