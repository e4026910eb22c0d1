// Package ui serves the web console at /ui/: static files embedded in the
// binary (plain JavaScript modules and one CSS file, no build step) that
// operate the hub from a browser through the hub's own API, plus the few
// endpoints only the console needs, under /ui/api/:
//
//   - GET /ui/api/session: who the request acts as and, for a request
//     authenticated by the token cookie, the CSRF value its changes must
//     carry (so a reloaded page needs neither the token nor storage);
//   - GET /ui/api/stats: the hub's counters as an SSE stream, once a
//     second, written with package emitter (the overview's live feed);
//   - GET /ui/api/connections: the open subscriptions with the stream and
//     client that opened them, their position and lag (admin).
//
// Every response under /ui/ carries a strict Content-Security-Policy (no
// inline script or style, nothing from another origin, no framing, Trusted
// Types), X-Content-Type-Options, Referrer-Policy no-referrer and no CORS
// headers: the console is same-origin only. The static files need no
// token; every data call goes through the API's authentication, so a token
// sees and does in the console exactly what the API lets it.
package ui

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/ssehub/ssehub/httpapi"
)

//go:embed static
var staticFS embed.FS

// Options configure the console.
type Options struct {
	// Enabled serves the console. When false, every path under /ui/
	// answers 404 with a message that says how to turn it on (config key
	// ui.enabled).
	Enabled bool
	// StoreName describes the store on the overview, e.g. "bolt ./data".
	StoreName string
	// Started is when the hub started, for its uptime; default the time
	// New is called.
	Started time.Time
	// StatsInterval is the period of the statistics feed; default 1 s.
	StatsInterval time.Duration
	// MaxSample bounds the events the per-topic rate meter reads from the
	// log in one period; past it the rates are extrapolated from the most
	// recent MaxSample events. Default 10,000.
	MaxSample int
	// MaxConnections bounds the subscriptions one GET /ui/api/connections
	// lists (?limit= lowers it); default 1,000.
	MaxConnections int
}

// Feature serves the console; create it with New.
type Feature struct {
	opts  Options
	s     *httpapi.Server
	files map[string]*file
	rates *rateMeter
}

// file is one embedded static file, ready to serve.
type file struct {
	body  []byte
	ctype string
	etag  string
}

// New returns the console feature for opts.
func New(opts Options) *Feature {
	if opts.Started.IsZero() {
		opts.Started = time.Now()
	}
	if opts.StatsInterval <= 0 {
		opts.StatsInterval = time.Second
	}
	if opts.MaxSample <= 0 {
		opts.MaxSample = 10_000
	}
	if opts.MaxConnections <= 0 {
		opts.MaxConnections = 1000
	}
	return &Feature{opts: opts}
}

// Register implements httpapi.Feature.
func (f *Feature) Register(s *httpapi.Server) error {
	f.s = s
	if !f.opts.Enabled {
		off := func(w http.ResponseWriter, r *http.Request) {
			setSecurityHeaders(w.Header())
			httpapi.WriteError(w, http.StatusNotFound, httpapi.CodeNotFound,
				"the web console is not enabled on this hub: set ui.enabled: true in its configuration (see docs/console.md)")
		}
		s.Route("/ui", httpapi.Methods{"GET": off})
		s.Route("/ui/", httpapi.Methods{"GET": off})
		return nil
	}
	files, err := loadFiles()
	if err != nil {
		return err
	}
	f.files = files
	f.rates = newRateMeter(s.Hub(), f.opts.StatsInterval, f.opts.MaxSample)
	s.Route("/ui", httpapi.Methods{"GET": func(w http.ResponseWriter, r *http.Request) {
		setSecurityHeaders(w.Header())
		http.Redirect(w, r, "/ui/", http.StatusMovedPermanently)
	}})
	// One route for the whole tree (a method-less /ui/api/… beside GET
	// /ui/ would conflict in net/http's mux): every path under /ui/ is GET
	// only, and the 405 of any other method comes from Route.
	s.Route("/ui/", httpapi.Methods{"GET": f.serve})
	return nil
}

// serve dispatches GET /ui/…: the console's endpoints, else its files.
func (f *Feature) serve(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	switch r.URL.Path {
	case "/ui/api/session":
		f.handleSession(w, r)
	case "/ui/api/stats":
		f.handleStats(w, r)
	case "/ui/api/connections":
		f.handleConnections(w, r)
	default:
		f.handleStatic(w, r)
	}
}

// loadFiles reads the embedded static files and computes their ETags.
func loadFiles() (map[string]*file, error) {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	files := map[string]*file{}
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ctype := mime.TypeByExtension(path.Ext(p))
		switch path.Ext(p) { // not left to the system's mime tables
		case ".html":
			ctype = "text/html; charset=utf-8"
		case ".js":
			ctype = "text/javascript; charset=utf-8"
		case ".css":
			ctype = "text/css; charset=utf-8"
		case ".svg":
			ctype = "image/svg+xml"
		case ".txt", "":
			ctype = "text/plain; charset=utf-8"
		}
		files[p] = &file{body: b, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	return files, err
}

// ContentSecurityPolicy is the policy of every response under /ui/: only
// the console's own files and the hub's own API, no inline script or
// style, no plugins, no framing, and DOM sinks that take only Trusted
// Types (none are created: the console builds its DOM from nodes).
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; " +
	"require-trusted-types-for 'script'; trusted-types 'none'"

// setSecurityHeaders sets the headers every console response carries, and
// removes the CORS headers the server set: no other origin may read the
// console's answers, whatever server.cors_origins allows the API.
func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
	h.Del("Access-Control-Allow-Origin")
	h.Del("Access-Control-Allow-Credentials")
}

// handleStatic serves GET /ui/ (index.html) and the files under it. Files
// are revalidated on every load (Cache-Control: no-cache with an ETag), so
// a new binary's console is used at once and an unchanged one costs a 304.
func (f *Feature) handleStatic(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/ui/")
	if name == "" {
		name = "index.html"
	}
	fl := f.files[name]
	if fl == nil {
		// Never echo the path: it may hold a token pasted by mistake.
		httpapi.WriteError(w, http.StatusNotFound, httpapi.CodeNotFound, "no console file at this path")
		return
	}
	h := w.Header()
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", fl.etag)
	if etagMatch(r.Header.Get("If-None-Match"), fl.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", fl.ctype)
	h.Set("Content-Length", strconv.Itoa(len(fl.body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(fl.body) // net/http drops the body of a HEAD
}

// etagMatch reports whether an If-None-Match header names etag (or is *).
func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}
