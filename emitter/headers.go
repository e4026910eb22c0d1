package emitter

import (
	"net/http"
	"strings"
)

// SetHeaders sets the headers of an event stream response on h: the
// text/event-stream content type, Cache-Control: no-cache,
// X-Accel-Buffering: no (so nginx and similar proxies do not buffer), and
// Connection: keep-alive on HTTP/1.x only (the header is forbidden in
// HTTP/2). It removes any Content-Length. Start calls it; a server that
// writes its own streams (such as the ssehub hub) calls it too, so every
// stream goes out with the same headers.
func SetHeaders(h http.Header, r *http.Request) {
	h.Del("Content-Length")
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	if r.ProtoMajor == 1 {
		h.Set("Connection", "keep-alive")
	} else {
		h.Del("Connection")
	}
}

// CORS is a cross-origin policy for streams and API responses.
type CORS struct {
	// Origins are the allowed origins, compared case-insensitively; "*"
	// allows every other origin without credentials.
	Origins []string
	// Credentials allows credentials (cookies) for the listed origins,
	// never for "*".
	Credentials bool
}

// Apply sets the CORS headers of the response to r on h, replacing any set
// before (a stream's own policy overrides the server's): a listed origin is
// reflected, with Access-Control-Allow-Credentials when the policy allows
// credentials; any other origin gets "*" when the list has it, else
// nothing. Responses vary by Origin whenever the answer depends on it.
func (c CORS) Apply(h http.Header, r *http.Request) {
	if len(c.Origins) == 0 {
		return
	}
	h.Del("Access-Control-Allow-Origin")
	h.Del("Access-Control-Allow-Credentials")
	star, listed := false, false
	for _, o := range c.Origins {
		if o == "*" {
			star = true
		} else {
			listed = true
		}
	}
	if listed {
		h.Add("Vary", "Origin")
	}
	origin := r.Header.Get("Origin")
	if origin != "" {
		for _, o := range c.Origins {
			if o != "*" && strings.EqualFold(o, origin) {
				h.Set("Access-Control-Allow-Origin", origin)
				if c.Credentials {
					h.Set("Access-Control-Allow-Credentials", "true")
				}
				return
			}
		}
	}
	if star {
		h.Set("Access-Control-Allow-Origin", "*")
	}
}

// Allows reports whether the policy lets origin read responses.
func (c CORS) Allows(origin string) bool {
	for _, o := range c.Origins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

// Lists reports whether origin is listed by name (not only through "*").
func (c CORS) Lists(origin string) bool {
	for _, o := range c.Origins {
		if o != "*" && strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

// Preflight answers r when it is an OPTIONS request and reports whether it
// did: a CORS preflight from an origin the options allow gets 204 with
// Access-Control-Allow-Methods (GET, OPTIONS), Access-Control-Allow-Headers
// (what an EventSource or a fetch of a stream sends: Last-Event-ID,
// Cache-Control, Accept, Authorization, Content-Type) and
// Access-Control-Max-Age; any other OPTIONS request gets 204 with Allow.
// A stream is never started for it. [Start] and [Handler] call it first.
func Preflight(w http.ResponseWriter, r *http.Request, opts Options) bool {
	if r.Method != http.MethodOptions {
		return false
	}
	h := w.Header()
	h.Set("Allow", "GET, HEAD, OPTIONS")
	if r.Header.Get("Access-Control-Request-Method") != "" {
		opts.setCORS(h, r)
		if h.Get("Access-Control-Allow-Origin") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Last-Event-ID, Cache-Control, Accept, Authorization, Content-Type")
			h.Set("Access-Control-Max-Age", "600")
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return true
}
