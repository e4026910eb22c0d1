package config

// streamYAML is how a Stream is written back: only the keys that were set,
// so that absent keys stay absent (they mean "the default", and an absent
// cors_origins means "the server's" where [] means "none").
type streamYAML struct {
	Match          StringList `yaml:"match,omitempty"`
	Path           string     `yaml:"path,omitempty"`
	Format         string     `yaml:"format,omitempty"`
	Replay         *bool      `yaml:"replay,omitempty"`
	Heartbeat      *Duration  `yaml:"heartbeat,omitempty"`
	HeartbeatStyle string     `yaml:"heartbeat_style,omitempty"`
	Hello          string     `yaml:"hello,omitempty"`
	Retry          *Duration  `yaml:"retry,omitempty"`
	Public         *bool      `yaml:"public,omitempty"`
	CORSOrigins    *[]string  `yaml:"cors_origins,omitempty"`
	EpochIDs       bool       `yaml:"epoch_ids,omitempty"`
	Mode           string     `yaml:"mode,omitempty"`
	Init           string     `yaml:"init,omitempty"`
	InitMaxTopics  int        `yaml:"init_max_topics,omitempty"`
	Keepalive      string     `yaml:"keepalive_comment,omitempty"`
	Lease          *Duration  `yaml:"lease,omitempty"`
	BatchSize      int        `yaml:"batch_size,omitempty"`
	MaxBatchSize   int        `yaml:"max_batch_size,omitempty"`
}

// MarshalYAML implements yaml.Marshaler, so that a parsed Config written
// with yaml.Marshal parses back to the same Config.
func (s Stream) MarshalYAML() (any, error) {
	out := streamYAML{Match: s.Match, Path: s.Path, Format: s.Format, Replay: s.ReplayOpt, Heartbeat: s.HeartbeatOpt,
		HeartbeatStyle: s.HeartbeatStyle, Hello: s.Hello, Retry: s.RetryOpt, Public: s.PublicOpt,
		EpochIDs: s.EpochIDs, Mode: s.Mode, Init: s.Init, InitMaxTopics: s.InitMaxTopics, Keepalive: s.KeepaliveComment,
		Lease: s.Lease, BatchSize: s.BatchSize, MaxBatchSize: s.MaxBatchSize}
	if s.CORSOrigins != nil {
		out.CORSOrigins = &s.CORSOrigins
	}
	return out, nil
}
