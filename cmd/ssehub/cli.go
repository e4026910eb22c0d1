package main

// Helpers the client subcommands (publish, tail, token, bench, version)
// share: flag parsing with one-line usage errors, defaults from the
// environment that help never prints, hub URLs, the hub's JSON errors, and
// redaction of secrets in everything written to stderr.

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"unicode"
)

// defaultServer is the hub URL used without --server and $SSEHUB_SERVER.
const defaultServer = "http://localhost:8080"

// envFlag is a string flag whose default is read from an environment
// variable after parsing, so that help (which prints a flag's default)
// never shows the variable's value: it may be a secret. The usage text
// names the variable instead.
type envFlag struct {
	value string
	set   bool
	name  string
	env   string
	def   string
}

// envStringVar defines a flag on fs whose value, when not given, is $env,
// or def when that is empty too.
func envStringVar(fs *flag.FlagSet, name, env, def, usage string) *envFlag {
	f := &envFlag{name: name, env: env, def: def}
	fs.Var(f, name, usage)
	return f
}

// String is the flag's explicit value: empty unless given, so flag's
// PrintDefaults shows no default.
func (f *envFlag) String() string { return f.value }

// Set records an explicit value; an explicit empty value stays empty.
func (f *envFlag) Set(s string) error { f.value, f.set = s, true; return nil }

// Get returns the value in effect and where it came from: the flag, the
// environment variable, or the built-in default.
func (f *envFlag) Get() (value, source string) {
	if f.set {
		return f.value, "--" + f.name
	}
	if v := os.Getenv(f.env); v != "" {
		return v, "$" + f.env
	}
	return f.def, "the default"
}

// parseArgs parses a subcommand's flags (interspersed with its positional
// arguments when interspersed is set). Help (-h, --help) prints help and
// the flags to stderr and returns code 0; a bad flag prints one line with
// the error and one with a hint, and returns code 2. ok is true when the
// command should go on with pos.
func parseArgs(fs *flag.FlagSet, args []string, name string, interspersed bool, help string, stderr io.Writer) (pos []string, code int, ok bool) {
	fs.SetOutput(io.Discard) // flag would print the error and the whole usage
	fs.Usage = func() {}
	var err error
	if interspersed {
		pos, err = parseInterspersed(fs, args)
	} else {
		err = fs.Parse(args)
		pos = fs.Args()
	}
	if errors.Is(err, flag.ErrHelp) {
		printHelp(fs, help, stderr)
		return nil, 0, false
	}
	if err != nil {
		return nil, usageError(stderr, name, "%v", err), false
	}
	return pos, 0, true
}

// printHelp writes a subcommand's help text and its flags.
func printHelp(fs *flag.FlagSet, help string, w io.Writer) {
	head, examples, _ := strings.Cut(help, "\nExamples:\n")
	fmt.Fprint(w, strings.TrimRight(head, "\n")+"\n")
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprint(w, "\nFlags (-flag and --flag are the same):\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	if examples != "" {
		fmt.Fprint(w, "\nExamples:\n"+examples)
	}
}

// usageError prints "ssehub NAME: message" and a one-line hint to the
// command's help, and returns the exit code of bad usage, 2.
func usageError(stderr io.Writer, name, format string, args ...any) int {
	fmt.Fprintf(stderr, "ssehub %s: %s\n", name, fmt.Sprintf(format, args...))
	fmt.Fprintf(stderr, "run 'ssehub %s --help' for usage\n", name)
	return 2
}

// urlExamples is what a valid hub URL looks like, for error messages.
const urlExamples = "want a URL like http://localhost:8080 or https://hub.example.com, or host:port or :port for http://"

// withScheme adds http:// to host:port and :port (localhost), the forms
// people type for a local hub.
func withScheme(s string) string {
	if strings.Contains(s, "://") {
		return s
	}
	if strings.HasPrefix(s, ":") {
		return "http://localhost" + s
	}
	return "http://" + s
}

// parseHTTPURL parses raw, defaulting the scheme to http://, and checks it
// is an http or https URL with a host and a valid port. Errors say what is
// wrong and what a valid value looks like, never with a secret in them.
func parseHTTPURL(raw string) (*url.URL, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return nil, errors.New("is empty; " + urlExamples)
	}
	u, err := url.Parse(withScheme(s))
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its message repeats the whole URL
		}
		return nil, fmt.Errorf("%q is not a valid URL (%v); %s", redactText(raw), err, urlExamples)
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
	default:
		return nil, fmt.Errorf("%q: scheme %q is not supported, only http and https; %s", redactText(raw), u.Scheme, urlExamples)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("%q has no host; %s", redactText(raw), urlExamples)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%q: port %s is not a number from 1 to 65535; %s", redactText(raw), p, urlExamples)
		}
	}
	return u, nil
}

// hubURL returns the hub's base URL (no trailing slash) from --server or
// $SSEHUB_SERVER; an error names where the bad value came from.
func hubURL(f *envFlag) (string, error) {
	raw, source := f.Get()
	u, err := parseHTTPURL(raw)
	if err == nil && (u.RawQuery != "" || u.Fragment != "" || u.ForceQuery) {
		err = fmt.Errorf("%q has a query or fragment; the hub URL is only scheme, host, port and an optional path prefix, e.g. http://localhost:8080", redactText(raw))
	}
	if err != nil {
		return "", fmt.Errorf("%s %w", source, err)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

var (
	reQueryToken = regexp.MustCompile(`(?i)([?&](?:access_)?token=)[^&#\s"<>]+`) // not ?token=<token> in a message
	reStreamPath = regexp.MustCompile(`(/stream/)[^/?#\s"]+`)
	rePassword   = regexp.MustCompile(`(://[^/?#@:\s"]*:)[^/?#@\s"]*@`)
)

// redactText hides the secrets URLs carry in s: a ?token= parameter, the
// token of a /stream/{token} path and the password of user:password@.
func redactText(s string) string {
	s = reQueryToken.ReplaceAllString(s, "${1}REDACTED")
	s = reStreamPath.ReplaceAllString(s, "${1}REDACTED")
	return rePassword.ReplaceAllString(s, "${1}REDACTED@")
}

// minSecretLen is the shortest secret redactWriter replaces: shorter ones
// would garble ordinary words in messages (hub tokens are 64 characters).
const minSecretLen = 6

// redactWriter replaces known secrets (the tokens a command was given) and
// URL secrets in everything written through it. Each message is written
// with a single Write, so a secret is never split across two.
type redactWriter struct {
	w       io.Writer
	secrets []string
}

// newRedactWriter wraps w; empty and short secrets are ignored.
func newRedactWriter(w io.Writer, secrets ...string) io.Writer {
	rw := &redactWriter{w: w}
	for _, s := range secrets {
		if len(s) >= minSecretLen {
			rw.secrets = append(rw.secrets, s)
		}
	}
	return rw
}

// Write writes p with its secrets replaced by REDACTED, and reports p's
// length on success.
func (r *redactWriter) Write(p []byte) (int, error) {
	s := redactText(string(p))
	for _, sec := range r.secrets {
		s = strings.ReplaceAll(s, sec, "REDACTED")
	}
	if _, err := io.WriteString(r.w, s); err != nil {
		return 0, err
	}
	return len(p), nil
}

// apiError is a hub's JSON error body.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// hubError describes a hub's non-2xx answer as "<status> <code>: <message>"
// from its JSON error, else "<status>: <start of the body>".
func hubError(resp *http.Response, body []byte) error {
	var e apiError
	if json.Unmarshal(body, &e) == nil && e.Error.Code != "" {
		return fmt.Errorf("%s %s: %s", resp.Status, e.Error.Code, e.Error.Message)
	}
	if ex := oneLine(body); ex != "" {
		return fmt.Errorf("%s: %s", resp.Status, ex)
	}
	return errors.New(resp.Status)
}

// oneLine turns a body into one short printable line.
func oneLine(b []byte) string {
	s := strings.ToValidUTF8(string(bytes.TrimSpace(b)), "\uFFFD")
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return s
}

// tokenHint says what to do about a refused token, or "" when the answer
// was not about the token. sent tells whether a token was sent; need
// names the kind of token the command needs.
func tokenHint(status int, body []byte, sent bool, need string) string {
	var e apiError
	_ = json.Unmarshal(body, &e)
	switch {
	case status == http.StatusUnauthorized && !sent:
		return "no token was sent: pass " + need + " with --token or set SSEHUB_TOKEN"
	case status == http.StatusUnauthorized, strings.EqualFold(e.Error.Code, "bad_token"):
		return "the hub refused the token it was sent; it needs " + need
	case status == http.StatusForbidden && strings.EqualFold(e.Error.Code, "forbidden"):
		return "the token is not allowed to do this; it needs " + need
	}
	return ""
}

// refusedHint is connectError's hint for the commands with --server.
const refusedHint = "is the hub running there? --server or $SSEHUB_SERVER sets its address"

// connectError describes a request that got no answer: "could not connect
// to <target>: <reason>", with hint added when nothing listens there. The
// target is redacted; net/http's own message, which repeats the full
// request URL, is not used.
func connectError(target string, err error, hint string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if hint != "" && errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("could not connect to %s: %w (%s)", redactText(target), err, hint)
	}
	return fmt.Errorf("could not connect to %s: %w", redactText(target), err)
}
