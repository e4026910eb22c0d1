package main

import (
	"fmt"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/config"
	"github.com/ssehub/ssehub/envelope"
	"github.com/ssehub/ssehub/format"
	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/httpapi/admin"
	"github.com/ssehub/ssehub/httpapi/ingest" // and with it the "arrow" format
	"github.com/ssehub/ssehub/httpapi/mercure"
	"github.com/ssehub/ssehub/httpapi/publish"
	"github.com/ssehub/ssehub/httpapi/pull" // and with it the "inboxclaw" format
	"github.com/ssehub/ssehub/httpapi/stream"
	"github.com/ssehub/ssehub/httpapi/ui"

	// The stores this binary can open, found by name by the configuration
	// and `serve --store`.
	_ "github.com/ssehub/ssehub/bolt"
	_ "github.com/ssehub/ssehub/memory"
	_ "github.com/ssehub/ssehub/nats"
)

// The pebble store is linked only with -tags pebble (features_pebble.go);
// asking a build without it for pebble says how to get it.
func init() { ssehub.HintDriver("pebble", "build ssehub with -tags pebble (docs/storage.md)") }

// features returns the HTTP features `serve` runs, configured from cfg:
// adding an endpoint is one feature package and one line here.
func features(cfg *config.Config) ([]httpapi.Feature, error) {
	streams, err := streamEndpoints(cfg)
	if err != nil {
		return nil, err
	}
	pulls, err := pullEndpoints(cfg)
	if err != nil {
		return nil, err
	}
	scoped, err := ssehub.ParseFilter(cfg.InboxclawMatch()...)
	if err != nil {
		return nil, err
	}
	l := cfg.Limits
	arrowIngest := ingest.New(ingest.Options{MaxBodyBytes: l.MaxIngestBytes, MaxKeyLen: l.MaxKeyLen})
	return []httpapi.Feature{
		stream.New(stream.Options{Streams: streams, WriteTimeout: time.Duration(cfg.Server.WriteTimeout),
			GoroutinePerStream: cfg.Server.GoroutinePerStream, Workers: cfg.Server.StreamWorkers,
			Compression:    stream.Compression(cfg.Server.Compression.Mode()),
			MaxClientBytes: cfg.Server.MaxClientBytes, MaxPageEvents: l.MaxPageEvents, MaxPageBytes: l.MaxPageBytes,
			FormatFor: arrowIngest.FormatFor}),
		publish.New(publish.Options{MaxBodyBytes: cfg.Server.MaxBodyBytes, MaxBatchEvents: l.MaxBatchEvents,
			Limits:       publish.FieldLimits{MaxKeyLen: l.MaxKeyLen, MaxFieldLen: l.MaxFieldLen, MaxMetaBytes: l.MaxMetaBytes},
			SourceScoped: scoped}),
		admin.New(admin.Options{TopicDetails: arrowIngest.TopicDetails}),
		arrowIngest,
		pull.New(pull.Options{Endpoints: pulls, MaxBatchBytes: l.MaxPageBytes}),
		ui.New(ui.Options{Enabled: cfg.UI.On(cfg.Server.Addr), StoreName: storeName(cfg)}),
		mercure.New(mercure.OptionsFrom(cfg)),
		durableFeature(cfg),
	}, nil
}

// pullEndpoints turns the http_pull sinks and mode: pull streams into pull
// endpoints.
func pullEndpoints(cfg *config.Config) ([]pull.Endpoint, error) {
	var out []pull.Endpoint
	for _, p := range cfg.PullEndpoints() {
		f, err := ssehub.ParseFilter(p.Match...)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.Key, err)
		}
		style := envelope.Style{}
		if p.Format == config.InboxclawFormat {
			style = envelope.InboxclawCompact
		}
		out = append(out, pull.Endpoint{Name: p.Name, ExtractPath: p.ExtractPath, ConfirmPath: p.ConfirmPath, Match: f,
			Lease: p.Lease, BatchSize: p.BatchSize, MaxBatchSize: p.MaxBatchSize, Public: p.Public, Style: style})
	}
	return out, nil
}

// streamEndpoints turns the configured streams (and Inboxclaw sinks) into
// stream endpoints.
func streamEndpoints(cfg *config.Config) ([]stream.Endpoint, error) {
	var out []stream.Endpoint
	for _, st := range cfg.AllStreams() {
		f, err := ssehub.ParseFilter(st.Match...)
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", st.Name, err)
		}
		fm, err := format.Parse(st.Format)
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", st.Name, err)
		}
		out = append(out, stream.Endpoint{
			Name: st.Name, Path: st.Endpoint(), Match: f, Format: fm, Replay: st.Replay, EpochIDs: st.EpochIDs,
			Heartbeat: st.Heartbeat, HeartbeatStyle: st.HeartbeatStyle, Hello: st.Hello,
			Retry: st.Retry, Public: st.Public, CORSOrigins: st.CORSOrigins,
			Init: st.Init, InitMaxTopics: st.InitMaxTopics, KeepaliveComment: st.KeepaliveComment,
		})
	}
	return out, nil
}
