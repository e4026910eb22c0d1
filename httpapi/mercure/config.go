package mercure

import (
	"time"

	"github.com/ssehub/ssehub/config"
)

// OptionsFrom returns the options the configuration's mercure section and
// limits give (the reference hub's environment variables fill in unset
// keys; see config.Mercure).
func OptionsFrom(cfg *config.Config) Options {
	m := cfg.Mercure
	pub, sub := m.Keys()
	return Options{
		Enabled:            m.On(),
		Publisher:          Key{Key: pub.Key, Alg: pub.Alg},
		Subscriber:         Key{Key: sub.Key, Alg: sub.Alg},
		Issuers:            m.Issuer,
		Audience:           m.ResourceIdentifier,
		Anonymous:          m.Anonymous,
		Subscriptions:      m.Subscriptions,
		HubURL:             m.HubURL,
		NativeTopics:       m.NativeTopics,
		NativeIRIPrefix:    m.NativeIRIPrefix,
		GoroutinePerStream: cfg.Server.GoroutinePerStream,
		Workers:            cfg.Server.StreamWorkers,
		MaxClientBytes:     cfg.Server.MaxClientBytes,
		MaxBodyBytes:       cfg.Server.MaxBodyBytes,
		MaxFieldLen:        cfg.Limits.MaxFieldLen,
		Heartbeat:          time.Duration(m.Heartbeat),
		WriteTimeout:       time.Duration(cfg.Server.WriteTimeout),
	}
}
