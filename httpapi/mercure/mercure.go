// Package mercure serves the Mercure protocol at /.well-known/mercure, so
// that a deployment of the reference Mercure hub can move to ssehub with its
// publishers and subscribers unchanged (docs/mercure.md):
//
//	POST /.well-known/mercure   topic=…&data=…[&private=on][&id=…][&type=…][&retry=…]
//	  → 200 text/plain: the update's id
//	GET  /.well-known/mercure?match=…&match_urlpattern=…&topic=…   (text/event-stream)
//	GET  /.well-known/mercure/subscriptions[/{match_type}/{match}[/{subscriber}]]
//
// An update is one event of the hub's log, on the ssehub topic its
// canonical topic maps onto (TopicFor): public updates under "mercure.",
// private ones under "mercure_private.". Its exact topics, its publisher's
// id and its retry travel in the event's meta, so ssehub subscribers see
// Mercure updates and Mercure subscribers see events published to those
// topics through ssehub. Replay is the log's: exact and as deep as its
// retention.
//
// Credentials are JWTs signed with the configured keys (RFC 9068 access
// tokens with authorization_details, or the older `mercure` claim), from
// the Authorization header or the mercureAuthorization cookie, or ssehub
// tokens, whose purpose and scope apply as on the rest of the hub.
package mercure

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/config"
	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/internal/pump"
)

// Path is the hub's URL path; MetadataPath that of its OAuth 2.0 protected
// resource metadata (RFC 9728).
const (
	Path         = "/.well-known/mercure"
	MetadataPath = "/.well-known/oauth-protected-resource" + Path
)

// Cookie names a browser's access token may come in: the specification's,
// then the reference hub's older one.
const (
	CookieName       = "__Secure-mercure_access_token"
	LegacyCookieName = "mercureAuthorization"
)

// Options configure the feature.
type Options struct {
	// Enabled serves the endpoints; without it Register adds nothing.
	Enabled bool
	// Publisher and Subscriber verify the JWTs of each role; a role
	// without a key accepts ssehub tokens only.
	Publisher, Subscriber Key
	// Issuers, when set, are the trusted iss values of access tokens.
	Issuers []string
	// Audience, when set, must be in the aud of access tokens (the hub's
	// resource identifier).
	Audience string
	// Anonymous lets subscribers without a credential receive public
	// updates.
	Anonymous bool
	// Subscriptions publishes subscription events and serves the
	// subscriptions API.
	Subscriptions bool
	// HubURL is the hub's public URL, which relative URL patterns resolve
	// against; default the request's scheme and host with Path.
	HubURL string
	// MaxBodyBytes bounds a publish request (default 1 MiB); MaxTopics the
	// topics of one update and MaxMatchers the matchers of one subscription
	// (default 100 each); MaxFieldLen a topic, matcher, id or type (default
	// 2048 bytes).
	MaxBodyBytes           int64
	MaxTopics, MaxMatchers int
	MaxFieldLen            int
	// NativeTopics are ssehub topic patterns whose events Mercure
	// subscribers see as private updates on the IRI NativeIRIPrefix + the
	// topic (the bare topic when the prefix is empty). They may not overlap
	// mercure.*, mercure_private.* or ds.* (config.CheckMercureNativeTopics);
	// default none.
	NativeTopics    []string
	NativeIRIPrefix string
	// Heartbeat is the idle time after which a stream gets a keep-alive
	// comment (default 15 s); WriteTimeout closes a stream whose client
	// takes nothing for that long (default 30 s).
	Heartbeat, WriteTimeout time.Duration
	// GoroutinePerStream keeps a goroutine for every stream. By default a
	// GET over HTTP/1.1 on Linux (cleartext, or TLS from a
	// pump.TLSListener) is handed after its headers to a pump's few
	// workers, as ssehub's own streams are. Workers and MaxClientBytes
	// tune that pump (see pump.Options).
	GoroutinePerStream bool
	Workers            int
	MaxClientBytes     int
	// Logger receives the feature's logs; default the server's.
	Logger *slog.Logger
}

// Feature is the Mercure endpoint.
type Feature struct {
	opts     Options
	pub, sub *verifier
	s        *httpapi.Server
	ids      *idIndex
	subs     *registry
	log      *slog.Logger
	native   ssehub.Filter // NativeTopics; empty: no native view
	// lastPrefix is NativeIRIPrefix parsed as URL patterns parse topics,
	// against the hub URL last asked for (see prefixFormFor).
	lastPrefix atomic.Pointer[prefixForm]

	pumpCfg *pump.Config // how the pump writes a stream
	pumps   *pump.Lazy   // started by the first detached stream
}

// New returns the feature; its keys are checked by Register.
func New(opts Options) *Feature {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	if opts.MaxTopics <= 0 {
		opts.MaxTopics = 100
	}
	if opts.MaxMatchers <= 0 {
		opts.MaxMatchers = 100
	}
	if opts.MaxFieldLen <= 0 {
		opts.MaxFieldLen = 2048
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 15 * time.Second
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 30 * time.Second
	}
	return &Feature{opts: opts}
}

// Register adds the routes when the feature is enabled.
func (f *Feature) Register(s *httpapi.Server) error {
	if !f.opts.Enabled {
		return nil
	}
	var err error
	if f.pub, err = newVerifier(f.opts.Publisher); err != nil {
		return fmt.Errorf("mercure publisher key: %w", err)
	}
	if f.sub, err = newVerifier(f.opts.Subscriber); err != nil {
		return fmt.Errorf("mercure subscriber key: %w", err)
	}
	if f.opts.HubURL != "" {
		if u, err := url.Parse(f.opts.HubURL); err != nil || !u.IsAbs() || u.Host == "" {
			return fmt.Errorf("mercure hub URL %q is not an absolute URL", f.opts.HubURL)
		}
	}
	if err := config.CheckMercureNativeTopics(f.opts.NativeTopics); err != nil {
		return err
	}
	if err := config.CheckMercureIRIPrefix(f.opts.NativeIRIPrefix); err != nil {
		return err
	}
	f.native = ssehub.MustFilter(f.opts.NativeTopics...)
	if !f.native.IsEmpty() {
		base := f.opts.HubURL
		if base == "" {
			base = "http://hub.invalid" + Path
		}
		if reserved(f.opts.NativeIRIPrefix+"x", base) {
			return fmt.Errorf("mercure native_iri_prefix %q: the IRIs it makes are in the hub's reserved namespace %s", f.opts.NativeIRIPrefix, Path)
		}
	}
	f.s = s
	s.ReserveTypes(PublicPrefix, "mercure", "Mercure")
	s.ReserveTypes(PrivatePrefix, "mercure", "Mercure")
	f.log = f.opts.Logger
	if f.log == nil {
		f.log = s.Logger()
	}
	key, err := loadSealKey(s.Context(), s.Hub().Store())
	if err != nil {
		return fmt.Errorf("mercure: the seal key: %w", err)
	}
	release, err := useSealKey(key)
	if err != nil {
		return fmt.Errorf("mercure: %w", err)
	}
	s.OnShutdown(release)
	f.pumpCfg = &pump.Config{Heartbeat: f.opts.Heartbeat, Ping: []byte(":\n"), Chunked: true}
	f.pumps = pump.NewLazy(pump.Options{WriteTimeout: f.opts.WriteTimeout, Workers: f.opts.Workers, MaxClientBytes: f.opts.MaxClientBytes},
		func(err error) { f.log.Info("mercure streams keep a goroutine each", "reason", err) })
	s.OnShutdown(f.pumps.Close)
	f.ids = &idIndex{kv: s.Hub().Store(), hub: s.Hub()}
	f.subs = &registry{byID: map[string]*subscription{}}
	s.Route(Path, httpapi.Methods{"GET": f.handleSubscribe, methodQuery: f.handleSubscribe, "POST": f.handlePublish})
	s.Route(MetadataPath, httpapi.Methods{"GET": f.handleMetadata})
	if f.opts.Subscriptions {
		s.Route(Path+"/subscriptions", httpapi.Methods{"GET": f.handleSubscriptions})
		s.Route(Path+"/subscriptions/{type}/{match}", httpapi.Methods{"GET": f.handleSubscriptions})
		s.Route(Path+"/subscriptions/{type}/{match}/{subscriber}", httpapi.Methods{"GET": f.handleSubscriptions})
	}
	ctx := s.Context()
	go f.ids.pruneEvery(ctx, 10*time.Minute, f.log)
	f.log.Info("mercure hub at "+Path, "publisher_jwt", f.pub != nil, "subscriber_jwt", f.sub != nil,
		"anonymous", f.opts.Anonymous, "subscriptions", f.opts.Subscriptions, "native_topics", f.native.String())
	if f.opts.HubURL == "" {
		f.log.Warn("mercure: relative URL patterns resolve against the request's Host; set mercure.hub_url")
	}
	if len(f.opts.Issuers) == 0 || f.opts.Audience == "" {
		f.log.Warn("mercure: access tokens' iss or aud are not checked; set mercure.issuer and mercure.resource_identifier")
	}
	return nil
}

// hubURL is the URL relative topics and patterns resolve against.
func (f *Feature) hubURL(r *http.Request) string {
	if f.opts.HubURL != "" {
		return f.opts.HubURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + Path
}

// link sets the discovery Link header, with the cursor when known, and
// lets cross-origin clients read it.
func link(w http.ResponseWriter, base, lastID string) {
	w.Header().Set("Access-Control-Expose-Headers", "Link, Mercure-Last-Event-ID")
	v := "<" + base + `>; rel="mercure"`
	if lastID != "" {
		v += `; last-event-id="` + strings.ReplaceAll(lastID, `"`, `%22`) + `"`
	}
	w.Header().Add("Link", v)
}

// bearerError answers per RFC 6750: the challenge in WWW-Authenticate,
// pointing to the protected resource metadata (RFC 9728), and a plain-text
// message.
func (f *Feature) bearerError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	v := `Bearer realm="mercure", resource_metadata="` + f.metadataURL(r) + `"`
	if code != "" {
		v += `, error="` + code + `"`
	}
	w.Header().Set("WWW-Authenticate", v)
	plainError(w, status, message)
}

// plainError is a Mercure error response: the status and a message.
func plainError(w http.ResponseWriter, status int, message string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = fmt.Fprintln(w, message)
}

// credential is who a request acts as: a verified JWT, an ssehub token, or
// nobody.
type credential struct {
	jwt *claims
	hub *httpapi.Principal
}

func (c *credential) anonymous() bool { return c.jwt == nil && c.hub == nil }

// looksLikeJWT tells a compact JWS from an ssehub token.
func looksLikeJWT(s string) bool { return strings.Count(s, ".") == 2 }

// authenticate finds and checks the request's credential: an
// Authorization header (its token is used even with a cookie present),
// else a Mercure cookie, else an ssehub token where ssehub takes one. It
// writes the error and returns false when a presented credential fails.
func (f *Feature) authenticate(w http.ResponseWriter, r *http.Request, v *verifier, base string) (*credential, bool) {
	raw, fromCookie, hubCookie := "", false, false
	if a := r.Header.Get("Authorization"); a != "" {
		if len(a) < 7 || !strings.EqualFold(a[:7], "bearer ") {
			f.bearerError(w, r, http.StatusBadRequest, "invalid_request", "the Authorization header must be Bearer <token>")
			return nil, false
		}
		raw = strings.TrimSpace(a[7:])
	} else if c, err := r.Cookie(CookieName); err == nil && c.Value != "" {
		raw, fromCookie = c.Value, true
	} else if c, err := r.Cookie(LegacyCookieName); err == nil && c.Value != "" {
		raw, fromCookie = c.Value, true
	} else if t, cookie := httpapi.TokenFrom(r); t != "" {
		if !cookie && looksLikeJWT(t) {
			// ?token= is for ssehub tokens; a JWT in a URL ends up in
			// logs and Referer headers (RFC 9700), as the refused
			// authorization parameter would.
			f.bearerError(w, r, http.StatusBadRequest, "invalid_request", "a Mercure JWT is not taken from the query string: send Authorization: Bearer <token> or the "+CookieName+" cookie")
			return nil, false
		}
		raw, fromCookie, hubCookie = t, cookie, cookie
	}
	if raw == "" {
		return &credential{}, true
	}
	if fromCookie && r.Method != http.MethodGet && r.Method != http.MethodHead && !f.sameOrigin(r) {
		f.bearerError(w, r, http.StatusForbidden, "insufficient_scope", "a change authenticated by a cookie must come from the hub's own origin or a listed CORS origin")
		return nil, false
	}
	if hubCookie && r.Method != http.MethodGet && r.Method != http.MethodHead &&
		subtle.ConstantTimeCompare([]byte(r.Header.Get(httpapi.CSRFHeader)), []byte(httpapi.CSRFToken(raw))) != 1 {
		// The hub's own cookie keeps the hub's rule for it, whatever
		// endpoint it is sent to: a change needs the CSRF proof too.
		f.bearerError(w, r, http.StatusForbidden, "insufficient_scope", "a change authenticated by the "+httpapi.TokenCookie+" cookie needs the "+
			httpapi.CSRFHeader+" header that POST /api/session returned")
		return nil, false
	}
	if looksLikeJWT(raw) {
		c, err := verifyToken(v, raw, f.opts.Issuers, f.opts.Audience, base)
		if err != nil {
			f.log.Debug("mercure: token refused", "err", err)
			f.bearerError(w, r, http.StatusUnauthorized, "invalid_token", "the access token is not valid")
			return nil, false
		}
		return &credential{jwt: c}, true
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="mercure", resource_metadata="`+f.metadataURL(r)+`", error="invalid_token"`)
	p, ok := f.s.AuthenticateSecret(w, r, raw)
	if !ok {
		return nil, false
	}
	w.Header().Del("WWW-Authenticate")
	return &credential{hub: p}, true
}

// sameOrigin: a cookie-authenticated change must come from the hub's own
// origin or one listed by name in server.cors_origins.
func (f *Feature) sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		s := r.Header.Get("Sec-Fetch-Site")
		return s != "cross-site" && s != "same-site"
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && (strings.EqualFold(u.Host, r.Host) || f.s.CORS().Lists(origin))
}

// registry holds this node's active subscriptions, for the API.
type registry struct {
	mu   sync.Mutex
	byID map[string]*subscription
}

var errStopped = errors.New("stopped")

// withServer ends ctx when the server shuts down too.
func withServer(ctx, server context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(server, func() { cancel(errStopped) })
	return ctx, func() { stop(); cancel(nil) }
}

// metadataURL is the absolute URL of the metadata document.
func (f *Feature) metadataURL(r *http.Request) string {
	u, err := url.Parse(f.hubURL(r))
	if err != nil {
		return MetadataPath
	}
	return u.Scheme + "://" + u.Host + MetadataPath
}

// handleMetadata serves the protected resource metadata: the resource
// identifier (the aud tokens must carry), the detail type, the header and
// cookie the token may come in, and whether the subscriptions API is on.
func (f *Feature) handleMetadata(w http.ResponseWriter, r *http.Request) {
	resource := f.opts.Audience
	if resource == "" {
		resource = f.hubURL(r)
	}
	doc := map[string]any{
		"resource":                              resource,
		"authorization_details_types_supported": []string{DetailType},
		"bearer_methods_supported":              []string{"header"},
		"mercure_cookie":                        CookieName,
		"mercure_matcher_types_supported":       []string{typeExact, typeURLPattern},
	}
	if f.opts.Subscriptions {
		doc["mercure_subscriptions"] = true
	}
	w.Header().Set("Cache-Control", "max-age=300")
	writeJSON(w, doc)
}
