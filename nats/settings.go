package nats

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ssehub/ssehub"
)

// Settings are the driver's own options, the storage.nats section of the
// configuration. Every field has a default; with an external NATS cluster
// only url is needed, and with embedded servers only the embedded section.
//
//	storage:
//	  driver: nats
//	  nats:
//	    url: nats://a:4222,nats://b:4222   # or --store nats://a:4222
//	    stream: SSEHUB
//	    subject_prefix: ssehub
//	    replicas: 3
//	    user: hub            # or token, nkey_file, creds_file
//	    password: "${NATS_PASSWORD}"
//	    tls: {ca: ca.pem, cert: client.pem, key: client-key.pem}
//	    embedded:            # start a NATS server inside this process
//	      name: n1
//	      listen: 127.0.0.1:4222
//	      cluster_listen: 127.0.0.1:6222
//	      routes: [nats://127.0.0.1:6223, nats://127.0.0.1:6224]
//	      store_dir: ./data/nats
//	      sync_always: false # fsync every write
type Settings struct {
	// URL is one server URL or a comma-separated list
	// ("nats://a:4222,nats://b:4222"); schemes nats, tls, ws, wss. Required
	// unless Embedded is set; with Embedded it adds servers to the embedded
	// one's.
	URL string `yaml:"url"`
	// Stream is the JetStream stream name (default SSEHUB). Its KV bucket
	// is "<Stream>_kv".
	Stream string `yaml:"stream"`
	// SubjectPrefix is the subject prefix of every event (default ssehub):
	// topic t is subject "<SubjectPrefix>.t".
	SubjectPrefix string `yaml:"subject_prefix"`
	// Replicas is the stream's (and the KV's) replica count, 1 to 5
	// (default 1).
	Replicas int `yaml:"replicas"`
	// StorageType is the stream's storage, file (default) or memory.
	StorageType string `yaml:"storage"`

	// Credentials, at most one kind: User and Password, Token, NKeyFile
	// (a file holding an nkey seed) or CredsFile (a JWT .creds file).
	User      string `yaml:"user"`
	Password  string `yaml:"password"`
	Token     string `yaml:"token"`
	NKeyFile  string `yaml:"nkey_file"`
	CredsFile string `yaml:"creds_file"`
	// TLS, when set, verifies the servers with CA (PEM; default: the
	// system's roots) and presents Cert and Key (PEM) when both are given.
	TLS *TLSSettings `yaml:"tls"`

	// MaxBatch is the most events one all-or-nothing Append may hold
	// (default 1000, the server's default atomic batch limit; raise the
	// server's jetstream max_batch_size before raising it).
	MaxBatch int `yaml:"max_batch"`
	// PublishTimeout bounds one Append, retries during a leader election
	// included (default 5s): past it the publish fails with 503.
	PublishTimeout time.Duration `yaml:"publish_timeout"`
	// ReadyTimeout bounds how long Open waits for JetStream (a cluster
	// electing its leaders, the other nodes starting) before it fails
	// (default 60s).
	ReadyTimeout time.Duration `yaml:"ready_timeout"`

	// Embedded, when set, starts a NATS server with JetStream inside the
	// hub process.
	Embedded *EmbeddedSettings `yaml:"embedded"`
}

// TLSSettings are the client's TLS files.
type TLSSettings struct {
	CA   string `yaml:"ca"`
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// EmbeddedSettings configure the NATS server a hub process starts. Three
// hub processes whose embedded servers list each other's cluster_listen in
// routes form one JetStream cluster.
type EmbeddedSettings struct {
	// Name is the server's name, unique in the cluster (default: the
	// host name). Required with ClusterListen.
	Name string `yaml:"name"`
	// Listen is the client address, host:port (default 127.0.0.1:0, a free
	// port that only this hub uses; set it so other clients and hubs can
	// connect).
	Listen string `yaml:"listen"`
	// ClusterListen is the route address, host:port, other cluster members
	// connect to; empty runs a single server.
	ClusterListen string `yaml:"cluster_listen"`
	// Routes are the other members' cluster addresses
	// (nats://host:6222); listing this server's own is harmless.
	Routes []string `yaml:"routes"`
	// StoreDir is JetStream's directory (default <storage.path>/nats).
	StoreDir string `yaml:"store_dir"`
	// ClusterName names the cluster (default ssehub); every member must
	// use the same.
	ClusterName string `yaml:"cluster_name"`
	// SyncAlways makes JetStream fsync every write, as the bolt store does
	// (default false: an acknowledged event is on a majority of the
	// servers, which flush to disk every two minutes).
	SyncAlways bool `yaml:"sync_always"`
}

// Defaults.
const (
	DefaultStream         = "SSEHUB"
	DefaultSubjectPrefix  = "ssehub"
	DefaultMaxBatch       = 1000
	DefaultPublishTimeout = 5 * time.Second
	DefaultReadyTimeout   = 60 * time.Second
	DefaultClusterName    = "ssehub"
)

// natsSchemes are the URL schemes the NATS client dials.
var natsSchemes = map[string]bool{"nats": true, "tls": true, "ws": true, "wss": true}

// withDefaults fills the zero fields.
func (s Settings) withDefaults() Settings {
	if s.Stream == "" {
		s.Stream = DefaultStream
	}
	if s.SubjectPrefix == "" {
		s.SubjectPrefix = DefaultSubjectPrefix
	}
	if s.Replicas == 0 {
		s.Replicas = 1
	}
	if s.StorageType == "" {
		s.StorageType = "file"
	}
	if s.MaxBatch == 0 {
		s.MaxBatch = DefaultMaxBatch
	}
	if s.PublishTimeout == 0 {
		s.PublishTimeout = DefaultPublishTimeout
	}
	if s.ReadyTimeout == 0 {
		s.ReadyTimeout = DefaultReadyTimeout
	}
	if e := s.Embedded; e != nil {
		c := *e
		if c.Listen == "" {
			c.Listen = "127.0.0.1:0"
		}
		if c.ClusterName == "" {
			c.ClusterName = DefaultClusterName
		}
		s.Embedded = &c
	}
	return s
}

// validate checks settings that have their defaults; every error names its
// key, one per line.
func (s Settings) validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if s.URL == "" && s.Embedded == nil {
		add("storage.nats.url: required unless storage.nats.embedded is set (or use --store nats://host:4222)")
	}
	if s.URL != "" {
		for _, u := range strings.Split(s.URL, ",") {
			p, err := url.Parse(strings.TrimSpace(u))
			if err != nil || !natsSchemes[p.Scheme] || p.Host == "" {
				add("storage.nats.url: %q is not a nats://, tls://, ws:// or wss:// server URL", shownURL(u))
			}
		}
	}
	// The KV bucket is named after the stream, and KV names are stricter
	// than stream names: letters, digits, '_' and '-'.
	if !validName(s.Stream) {
		add("storage.nats.stream: %q is not a stream name (letters, digits, '_' and '-')", s.Stream)
	}
	if err := ssehub.ValidateTopic(s.SubjectPrefix); err != nil {
		add("storage.nats.subject_prefix: %v", err)
	}
	if s.Replicas < 1 || s.Replicas > 5 {
		add("storage.nats.replicas: %d is not between 1 and 5", s.Replicas)
	}
	if s.StorageType != "file" && s.StorageType != "memory" {
		add("storage.nats.storage: %q is not file or memory", s.StorageType)
	}
	kinds := 0
	for _, set := range []bool{s.User != "" || s.Password != "", s.Token != "", s.NKeyFile != "", s.CredsFile != ""} {
		if set {
			kinds++
		}
	}
	if kinds > 1 {
		add("storage.nats: give one kind of credentials: user/password, token, nkey_file or creds_file")
	}
	if s.Password != "" && s.User == "" {
		add("storage.nats.user: required with password")
	}
	if t := s.TLS; t != nil && (t.Cert == "") != (t.Key == "") {
		add("storage.nats.tls: cert and key go together")
	}
	if s.MaxBatch < 1 {
		add("storage.nats.max_batch: %d must be at least 1", s.MaxBatch)
	}
	if s.PublishTimeout < 0 {
		add("storage.nats.publish_timeout: must not be negative")
	}
	if s.ReadyTimeout < 0 {
		add("storage.nats.ready_timeout: must not be negative")
	}
	if e := s.Embedded; e != nil {
		if _, _, err := splitHostPort(e.Listen); err != nil {
			add("storage.nats.embedded.listen: %v", err)
		}
		if e.ClusterListen != "" {
			if _, _, err := splitHostPort(e.ClusterListen); err != nil {
				add("storage.nats.embedded.cluster_listen: %v", err)
			}
			if e.Name == "" {
				add("storage.nats.embedded.name: required with cluster_listen (each member of a cluster needs its own name)")
			}
		} else if len(e.Routes) > 0 {
			add("storage.nats.embedded.routes: needs cluster_listen")
		}
		for _, r := range e.Routes {
			p, err := url.Parse(r)
			if err != nil || (p.Scheme != "nats" && p.Scheme != "nats-route" && p.Scheme != "tls") || p.Host == "" {
				add("storage.nats.embedded.routes: %q is not a nats://host:port route URL", r)
			}
		}
		if !validName(e.ClusterName) {
			add("storage.nats.embedded.cluster_name: %q is not a name (letters, digits, '_' and '-')", e.ClusterName)
		}
		if s.Replicas > 1 && e.ClusterListen == "" && s.URL == "" {
			add("storage.nats.replicas: %d replicas need a cluster (storage.nats.embedded.cluster_listen and routes)", s.Replicas)
		}
	}
	return errors.Join(errs...)
}

func validName(s string) bool {
	if s == "" || len(s) > 200 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// splitHostPort parses host:port; port 0 means a free port.
func splitHostPort(hp string) (string, int, error) {
	host, ps, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, fmt.Errorf("%q is not host:port", hp)
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%q has no valid port", hp)
	}
	return host, port, nil
}

// settingsOf decodes cfg's storage.nats section, applies the defaults and
// the --store URL, and checks the result.
func settingsOf(cfg ssehub.StoreConfig) (Settings, error) {
	var s Settings
	if cfg.Settings != nil {
		if err := cfg.Settings(&s); err != nil {
			return s, fmt.Errorf("storage.nats: %w", err)
		}
	}
	if cfg.URL != "" {
		s.URL = cfg.URL
	}
	s = s.withDefaults()
	if e := s.Embedded; e != nil && e.StoreDir == "" {
		if cfg.Path == "" {
			return s, errors.New("storage.nats.embedded.store_dir: required without storage.path")
		}
		e.StoreDir = cfg.Path + "/nats"
	}
	return s, s.validate()
}
