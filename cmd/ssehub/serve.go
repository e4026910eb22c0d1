package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/config"
	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/pump"
	"github.com/ssehub/ssehub/internal/selfsigned"
)

func init() {
	register(command{name: "serve", summary: "run the hub", run: runServe})
}

// authBucket keeps the admin token's hash when the hub generated it.
const (
	authBucket    = "auth"
	adminHashKey  = "admin_sha256"
	shutdownGrace = 10 * time.Second
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "YAML config file")
	addr := fs.String("addr", "", "listen address (default :8080, or server.addr)")
	data := fs.String("data", "", "data directory of the embedded store (default ./data, or storage.path)")
	store := fs.String("store", "", "store driver ("+strings.Join(ssehub.DriverNames(), ", ")+"), or a store URL such as nats://host:4222 (default bolt, or storage.driver)")
	tlsCert := fs.String("tls-cert", "", "TLS certificate file (PEM); serves HTTPS and HTTP/2")
	tlsKey := fs.String("tls-key", "", "TLS key file (PEM)")
	selfSigned := fs.Bool("tls-self-signed", false, "serve HTTPS with a certificate generated in memory (development)")
	h2c := fs.Bool("h2c", false, "also serve cleartext HTTP/2 (prior knowledge)")
	pprofAddr := fs.String("pprof", "", "serve Go's profiler (/debug/pprof/) on this address, e.g. 127.0.0.1:6060")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ssehub serve: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg := config.Default()
	if *cfgPath != "" {
		var err error
		if cfg, err = config.Load(*cfgPath); err != nil {
			fmt.Fprintf(stderr, "ssehub serve: %v\n", err)
			return 2
		}
	}
	if *addr != "" {
		cfg.Server.Addr = *addr
	}
	if *data != "" {
		cfg.Storage.Path = *data
	}
	if *store != "" {
		cfg.Storage.Driver = *store
	}
	if *tlsCert != "" || *tlsKey != "" {
		cfg.Server.TLS.Cert, cfg.Server.TLS.Key = *tlsCert, *tlsKey
	}
	cfg.Server.TLS.SelfSigned = cfg.Server.TLS.SelfSigned || *selfSigned
	cfg.Server.H2C = cfg.Server.H2C || *h2c
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "ssehub serve: %v\n", err)
		return 2
	}
	logger := newLogger(cfg.Log.Level, cfg.Log.Format, stderr)
	for _, w := range cfg.Warnings {
		logger.Warn(w)
	}
	if *pprofAddr != "" {
		if err := startPprof(ctx, *pprofAddr, logger); err != nil {
			logger.Error("serve failed", "err", err)
			return 1
		}
	}
	if err := serve(ctx, cfg, logger, stdout); err != nil {
		logger.Error("serve failed", "err", err)
		return 1
	}
	return 0
}

func newLogger(level, format string, w io.Writer) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func serve(ctx context.Context, cfg *config.Config, logger *slog.Logger, stdout io.Writer) error {
	store, err := ssehub.OpenStore(ctx, cfg.Storage.Driver, cfg.Storage.StoreConfig(logger))
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer store.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var api *httpapi.Server
	h, err := hub.New(ctx, store, hub.Options{Logger: logger, OnCommit: func(d time.Duration, n int) { api.ObserveCommit(d, n) }})
	if err != nil {
		return err
	}
	feats, err := features(cfg)
	if err != nil {
		return err
	}
	tokens := auth.NewStore(store)
	opts := httpapi.Options{
		Hub: h, Tokens: tokens, CORSOrigins: cfg.Server.CORSOrigins,
		Logger: logger, Registerer: reg, Gatherer: reg, AccessLog: cfg.Server.AccessLog, Features: feats,
		BodyTimeout: time.Duration(cfg.Server.ReadBodyTimeout),
		Limits: httpapi.Limits{PublishRate: cfg.Limits.PublishRate, PublishBurst: cfg.Limits.PublishBurst,
			StreamsPerToken: cfg.Limits.StreamsPerToken, StreamsPerAddr: cfg.Limits.StreamsPerAddr,
			MaxStreams: cmp.Or(cfg.Limits.MaxStreams, cfg.Limits.MaxConnections), MaxTopics: cfg.Limits.MaxTopics,
			MaxTopicLen: cfg.Limits.MaxTopicLen},
	}

	// Everything that can fail comes before the admin token is stored and
	// printed: a hub that cannot listen, or load its TLS key, must not
	// keep the hash of a token nobody was shown.
	srv := &http.Server{ReadHeaderTimeout: time.Duration(cfg.Server.ReadHeaderTimeout),
		IdleTimeout: time.Duration(cfg.Server.IdleTimeout), ErrorLog: httpErrorLog(logger)}
	if srv.TLSConfig, err = tlsConfig(cfg, stdout); err != nil {
		return err
	}
	tcp, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Server.Addr, err)
	}
	limited := httpapi.NewListener(tcp, cfg.Limits.MaxConnections)
	var ln net.Listener = limited
	defer ln.Close()
	adminHash, generated, err := adminToken(ctx, cfg, store)
	if err != nil {
		return err
	}
	warnWeakAdminToken(cfg, logger)
	if generated != "" {
		// Stored now, so that of two nodes starting at once on one
		// shared store, both use the one that was stored first.
		if adminHash, generated, err = claimAdminHash(ctx, store, adminHash, generated, logger); err != nil {
			return err
		}
	}
	opts.AdminHash = adminHash
	if api, err = httpapi.New(opts); err != nil {
		if generated != "" {
			// Nobody was shown this token: the next start makes another.
			if derr := store.Delete(ctx, authBucket, adminHashKey); derr != nil {
				logger.Warn("the generated admin token's hash was stored but not removed after the failed start; set SSEHUB_ADMIN_TOKEN", "err", derr)
			}
		}
		return err
	}
	srv.Handler = api
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ssehub_connections", Help: "Open TCP connections, idle or streaming."},
			func() float64 { return float64(limited.Open()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ssehub_connections_refused_total", Help: "Connections refused at limits.max_connections."},
			func() float64 { return float64(limited.Refused()) }),
	)
	scheme := "http"
	if srv.TLSConfig != nil {
		scheme = "https"
		limited.Refusal = nil                    // a refused TLS client gets a closed connection, not plain text
		ln = pump.TLSListener(ln, srv.TLSConfig) // TLS streams are detached too
		srv.ConnContext = pump.ConnContext
	} else if cfg.Server.H2C {
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetHTTP1(true)
		srv.Protocols.SetUnencryptedHTTP2(true)
	}

	runCtx, stopHub := context.WithCancel(context.Background())
	hubDone := make(chan error, 1)
	go func() { hubDone <- h.Run(runCtx) }()
	pruneDone := make(chan struct{})
	go func() {
		defer close(pruneDone)
		tokens.PruneEvery(runCtx, tokenPruneInterval, cfg.Auth.ExpiredTokenRetention(), logger)
	}()
	defer func() { stopHub(); <-pruneDone }()
	serveDone := make(chan error, 1)
	go func() { serveDone <- srv.Serve(ln) }()

	base := scheme + "://" + displayAddr(tcp.Addr())
	fmt.Fprintf(stdout, "ssehub listening on %s (store: %s)\n", base, storeName(cfg))
	printStreams(stdout, base, cfg)
	if cfg.UI.On(cfg.Server.Addr) {
		fmt.Fprintf(stdout, "console: %s/ui/\n", base)
	} else {
		fmt.Fprintf(stdout, "console: off (%s)\n", cfg.UI.OffReason(cfg.Server.Addr))
	}
	if generated != "" {
		printWelcome(stdout, base, generated)
	}

	var runErr error
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case runErr = <-serveDone:
	case runErr = <-hubDone:
		runErr = fmt.Errorf("live feed stopped: %w", runErr)
	}
	// Stop accepting, end the streams so clients reconnect, let in-flight
	// publishes finish their commits, then close the log.
	api.Shutdown()
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		logger.Warn("shutdown deadline passed; closing connections", "err", err)
		_ = srv.Close()
	}
	stopHub()
	<-hubDone
	if errors.Is(runErr, http.ErrServerClosed) {
		runErr = nil
	}
	return runErr
}

// tokenPruneInterval is how often serve deletes the tokens that expired
// longer than auth.expired_token_retention ago.
const tokenPruneInterval = time.Hour

// adminToken returns the admin token's hash: from the config or the
// environment, else the hash stored at an earlier start, else that of a
// new token, returned once to be printed, whose hash the caller stores
// (claimAdminHash) once the listener and TLS are set up.
func adminToken(ctx context.Context, cfg *config.Config, kv ssehub.KV) (hash [32]byte, generated string, err error) {
	if tok := configuredAdminToken(cfg); tok != "" {
		return httpapi.HashToken(tok), "", nil
	}
	if kv != nil {
		b, err := kv.Get(ctx, authBucket, adminHashKey)
		switch {
		case err == nil && len(b) == 64:
			if _, err := hex.Decode(hash[:], b); err == nil {
				return hash, "", nil
			}
		case err != nil && !errors.Is(err, ssehub.ErrNotFound):
			return hash, "", fmt.Errorf("read admin token hash: %w", err)
		}
	}
	if generated, err = auth.Generate(); err != nil {
		return hash, "", err
	}
	return httpapi.HashToken(generated), generated, nil
}

// claimAdminHash keeps a generated admin token's hash for the next starts
// and returns the hash and token to use. On a store that several nodes
// share (ssehub.KVSwapper), a node that finds a hash stored by another
// node starting at the same time uses that one instead, and prints no
// token: the other node printed it.
func claimAdminHash(ctx context.Context, kv ssehub.KV, hash [32]byte, generated string, logger *slog.Logger) ([32]byte, string, error) {
	if kv == nil {
		return hash, generated, nil
	}
	value := []byte(hex.EncodeToString(hash[:]))
	c, ok := kv.(ssehub.KVSwapper)
	if !ok {
		if err := kv.Put(ctx, authBucket, adminHashKey, value); err != nil {
			return hash, "", fmt.Errorf("store admin token hash: %w", err)
		}
		return hash, generated, nil
	}
	err := c.CompareAndSwap(ctx, authBucket, adminHashKey, nil, value)
	if err == nil {
		return hash, generated, nil
	}
	if !errors.Is(err, ssehub.ErrConflict) {
		return hash, "", fmt.Errorf("store admin token hash: %w", err)
	}
	b, err := kv.Get(ctx, authBucket, adminHashKey)
	var stored [32]byte
	if err == nil && len(b) == 64 {
		if _, err = hex.Decode(stored[:], b); err == nil {
			logger.Info("another hub node generated the admin token at the same moment: this node uses that one (that node's output shows it)")
			return stored, "", nil
		}
	}
	if err == nil {
		err = errors.New("not a SHA-256 in hex")
	}
	return hash, "", fmt.Errorf("read the admin token hash another node stored: %w", err)
}

// tlsConfig returns the TLS setup the config asks for, or nil for plain
// HTTP. HTTP/2 is offered through ALPN.
func tlsConfig(cfg *config.Config, stdout io.Writer) (*tls.Config, error) {
	var cert tls.Certificate
	var err error
	switch {
	case cfg.Server.TLS.SelfSigned:
		var fp string
		if cert, fp, err = selfsigned.Certificate(); err != nil {
			return nil, err
		}
		fmt.Fprintf(stdout, "TLS: self-signed certificate generated in memory, SHA-256 fingerprint %s\n", fp)
	case cfg.Server.TLS.Cert != "":
		if cert, err = tls.LoadX509KeyPair(cfg.Server.TLS.Cert, cfg.Server.TLS.Key); err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
	default:
		return nil, nil
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}, nil
}

func printWelcome(w io.Writer, base, token string) {
	fmt.Fprintf(w, `
A new admin token was generated. It is shown only this once; only its hash is stored.

    export SSEHUB_TOKEN=%[2]s

Publish an event:
    curl -X POST -H "Authorization: Bearer $SSEHUB_TOKEN" -d '{"hello":"world"}' %[1]s/publish/greetings

Watch events (curl, ssehub tail, or a browser):
    curl -N -H "Authorization: Bearer $SSEHUB_TOKEN" '%[1]s/events?topic=*'
    ssehub tail '%[1]s/events?topic=*'
    %[1]s/events?topic=*&token=$SSEHUB_TOKEN

`, base, token)
}

func displayAddr(a net.Addr) string {
	s := a.String()
	if strings.HasPrefix(s, "[::]:") {
		return "localhost:" + s[len("[::]:"):]
	}
	if strings.HasPrefix(s, "0.0.0.0:") {
		return "localhost:" + s[len("0.0.0.0:"):]
	}
	return s
}

func storeName(cfg *config.Config) string {
	if d, ok := ssehub.LookupDriver(cfg.Storage.Driver); ok && d.Describe != nil {
		return d.Describe(cfg.Storage.StoreConfig(nil))
	}
	return cfg.Storage.Driver
}

// printStreams lists the configured streams and pull endpoints in the
// startup banner.
func printStreams(w io.Writer, base string, cfg *config.Config) {
	defer printPulls(w, base, cfg)
	all := cfg.AllStreams()
	if len(all) == 0 {
		return
	}
	fmt.Fprintln(w, "streams:")
	for _, st := range all {
		access := "token"
		if st.Public {
			access = "public"
		}
		replay := "replay"
		if !st.Replay {
			replay = "live only"
		}
		fmt.Fprintf(w, "    %s%s  (%s; match %s; %s; %s)\n", base, st.Endpoint(), st.Name, strings.Join(st.Match, ","), st.Format, access+", "+replay)
	}
}

// printPulls lists the pull endpoints (mode: pull streams and http_pull
// sinks) in the startup banner: where to extract and where to confirm.
func printPulls(w io.Writer, base string, cfg *config.Config) {
	pulls := cfg.PullEndpoints()
	if len(pulls) == 0 {
		return
	}
	fmt.Fprintln(w, "pull endpoints:")
	for _, p := range pulls {
		access := "token"
		if p.Public {
			access = "public"
		}
		fmt.Fprintf(w, "    %s%s, %s%s  (%s; match %s; %s)\n", base, p.ExtractPath, base, p.ConfirmPath, p.Name, strings.Join(p.Match, ","), access)
	}
}
