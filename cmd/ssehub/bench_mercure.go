package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/ssehub/ssehub/internal/bench"
)

// benchMercure holds the flags of bench's Mercure protocol mode.
type benchMercure struct {
	protocol *string
	pubKey   *envFlag
	subKey   *envFlag
}

// benchMercureFlags adds --protocol and the Mercure JWT keys.
func benchMercureFlags(fs *flag.FlagSet) *benchMercure {
	return &benchMercure{
		protocol: fs.String("protocol", bench.ProtocolSSEHub, "fanout: the `PROTOCOL` spoken, ssehub (/events, /publish) or mercure (/.well-known/mercure: ?topic= subscriptions and form publishes with HS256 JWTs; ssehub's Mercure surface or any Mercure hub)"),
		pubKey:   envStringVar(fs, "mercure-key", "MERCURE_PUBLISHER_JWT_KEY", "", "with --protocol mercure: the publisher JWT `KEY` (HS256 secret; default $MERCURE_PUBLISHER_JWT_KEY; with --spawn, a random one given to the hub)"),
		subKey:   envStringVar(fs, "mercure-subscriber-key", "MERCURE_SUBSCRIBER_JWT_KEY", "", "with --protocol mercure: the subscriber JWT `KEY` (default $MERCURE_SUBSCRIBER_JWT_KEY, else the publisher key)"),
	}
}

// apply checks the flags against the scenario and sets cfg's protocol and
// keys; a non-empty answer is the usage error.
func (m *benchMercure) apply(scenario string, spawn bool, cfg *bench.Config) string {
	switch *m.protocol {
	case bench.ProtocolSSEHub:
		return ""
	case bench.ProtocolMercure:
	default:
		return fmt.Sprintf("--protocol %q: want ssehub or mercure", *m.protocol)
	}
	if scenario != "fanout" {
		return fmt.Sprintf("--protocol mercure runs the fanout scenario only, not %s", scenario)
	}
	if cfg.H2C || cfg.H2 {
		return "--protocol mercure subscribes over HTTP/1.1; --h2c and --h2 do not apply"
	}
	cfg.Protocol = bench.ProtocolMercure
	pk, _ := m.pubKey.Get()
	sk, _ := m.subKey.Get()
	if pk == "" && spawn {
		pk = bench.NewToken()
	}
	if pk == "" {
		return "--protocol mercure needs the hub's publisher JWT key: --mercure-key or $MERCURE_PUBLISHER_JWT_KEY"
	}
	if sk == "" {
		sk = pk
	}
	cfg.MercurePublisherKey, cfg.MercureSubscriberKey = []byte(pk), []byte(sk)
	return ""
}

// benchMercureConfig is a spawned hub's config for the Mercure mode: a
// Mercure JWT is not the admin token, so the hub's per-address and
// per-token stream limits (1,000 and 100 by default) and its publish rate
// would stop a run at the sizes the admin token reaches on /events; they
// are raised past what one machine can open.
const benchMercureConfig = `limits:
  streams_per_addr: 1000000
  streams_per_token: 1000000
  publish_rate: 1000000
  publish_burst: 1000000
`

// benchMercureEnv is a spawned hub's environment for the Mercure mode:
// the keys the bench signs with (nothing for ssehub's own protocol).
func benchMercureEnv(cfg *bench.Config) []string {
	if cfg.Protocol != bench.ProtocolMercure {
		return nil
	}
	return []string{
		"MERCURE_PUBLISHER_JWT_KEY=" + string(cfg.MercurePublisherKey),
		"MERCURE_SUBSCRIBER_JWT_KEY=" + string(cfg.MercureSubscriberKey),
	}
}

// benchMercurePreflight checks, before a Mercure run, that the hub serves
// the Mercure endpoint and accepts the bench's JWTs: a subscription must
// open (200), and a publish without a topic must pass the token checks
// and be refused for the missing topic (400), so nothing is published.
func benchMercurePreflight(ctx context.Context, cfg *bench.Config) error {
	client := http.DefaultClient
	if cfg.Insecure {
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
		defer tr.CloseIdleConnections()
		client = &http.Client{Transport: tr}
	}
	do := func(method, path, ctype, body string, key []byte) (int, string, error) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		tok, err := bench.MercureJWT(key, time.Minute)
		if err != nil {
			return 0, "", err
		}
		req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(cfg.Server, "/")+path, strings.NewReader(body))
		if err != nil {
			return 0, "", fmt.Errorf("preflight: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", connectError(cfg.Server, err, refusedHint)
		}
		defer resp.Body.Close()
		var b []byte
		if resp.StatusCode != http.StatusOK {
			b, _ = io.ReadAll(io.LimitReader(resp.Body, 4096))
		}
		return resp.StatusCode, strings.TrimSpace(string(b)), nil
	}
	code, msg, err := do("GET", "/.well-known/mercure?topic=https%3A%2F%2Fbench.example%2Fpreflight", "", "", cfg.MercureSubscriberKey)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("the hub refused the bench's Mercure subscription: %d %s%s", code, msg, mercureKeyHint(code))
	}
	code, msg, err = do("POST", "/.well-known/mercure", "application/x-www-form-urlencoded", "data=preflight", cfg.MercurePublisherKey)
	if err != nil {
		return err
	}
	if code != http.StatusBadRequest {
		return fmt.Errorf("the hub refused the bench's Mercure publish: %d %s%s", code, msg, mercureKeyHint(code))
	}
	return nil
}

// mercureKeyHint says what a refusal of the Mercure endpoint likely means.
func mercureKeyHint(code int) string {
	switch code {
	case http.StatusNotFound:
		return "\n  no Mercure endpoint: ssehub serves it when a Mercure JWT key is configured (docs/mercure.md)"
	case http.StatusUnauthorized, http.StatusForbidden:
		return "\n  is --mercure-key (or $MERCURE_PUBLISHER_JWT_KEY / --mercure-subscriber-key) the hub's key?"
	}
	return ""
}
