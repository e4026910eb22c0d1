package main

import (
	"time"

	"github.com/ssehub/ssehub/config"
	"github.com/ssehub/ssehub/httpapi/durable"
)

// durableFeature is the Durable Streams endpoints as durable_streams
// configures them (served unless durable_streams.enabled is false).
func durableFeature(cfg *config.Config) *durable.Feature {
	d := cfg.DurableStreams.Resolved()
	return durable.New(durable.Options{Disabled: !d.On(), PublicRead: d.PublicRead, PublicWrite: d.PublicWrite,
		LongPollTimeout: time.Duration(d.LongPollTimeout), SSEMaxDuration: time.Duration(d.SSEMaxDuration),
		MaxBodyBytes: cfg.Server.MaxBodyBytes, MaxReadBytes: d.MaxReadBytes, MaxProducers: d.MaxProducers,
		WriteTimeout: time.Duration(cfg.Server.WriteTimeout), Refresh: time.Duration(d.Refresh),
		MaxCachedStreams: d.MaxCachedStreams,
		NativeTopics:     d.NativeTopics, NativePath: d.NativePath, NativePublicRead: d.NativePublicRead})
}
