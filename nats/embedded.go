package nats

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Server is a NATS server with JetStream running inside this process.
type Server struct {
	ns *server.Server
}

// StartServer starts an embedded NATS server with JetStream as e
// describes and waits until it accepts connections. Clients may use the
// optional credentials (user and password, or a token). Shutdown stops it.
func StartServer(e EmbeddedSettings, user, password, token string, logger *slog.Logger) (*Server, error) {
	if e.Listen == "" {
		e.Listen = "127.0.0.1:0"
	}
	if e.ClusterName == "" {
		e.ClusterName = DefaultClusterName
	}
	if logger == nil {
		logger = slog.Default()
	}
	host, port, err := splitHostPort(e.Listen)
	if err != nil {
		return nil, fmt.Errorf("storage.nats.embedded.listen: %w", err)
	}
	opts := &server.Options{
		ServerName: e.Name,
		Host:       host,
		Port:       randomIfZero(port),
		JetStream:  true,
		StoreDir:   e.StoreDir,
		NoSigs:     true,
		SyncAlways: e.SyncAlways,
		// Defaults otherwise: 1 MiB payloads, atomic batches of up to
		// 1000 messages.
		// Report a lost route once a minute, not at every attempt.
		ReconnectErrorReports: 60,
		Username:              user,
		Password:              password,
		Authorization:         token,
	}
	if e.ClusterListen != "" {
		ch, cp, err := splitHostPort(e.ClusterListen)
		if err != nil {
			return nil, fmt.Errorf("storage.nats.embedded.cluster_listen: %w", err)
		}
		opts.Cluster = server.ClusterOpts{Name: e.ClusterName, Host: ch, Port: randomIfZero(cp)}
		for _, r := range e.Routes {
			u, err := url.Parse(r)
			if err != nil {
				return nil, fmt.Errorf("storage.nats.embedded.routes: %w", err)
			}
			opts.Routes = append(opts.Routes, u)
		}
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS server: %w", err)
	}
	ns.SetLoggerV2(&serverLog{l: logger.With("component", "nats-server", "server", e.Name)}, false, false, false)
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("embedded NATS server %s: not accepting connections on %s after 10s", e.Name, e.Listen)
	}
	return &Server{ns: ns}, nil
}

func randomIfZero(p int) int {
	if p == 0 {
		return server.RANDOM_PORT
	}
	return p
}

// ClientURL is the URL clients on this machine connect to (loopback when
// the server listens on every address).
func (s *Server) ClientURL() string {
	u, err := url.Parse(s.ns.ClientURL())
	if err != nil {
		return s.ns.ClientURL()
	}
	if ip := net.ParseIP(u.Hostname()); u.Hostname() == "" || ip != nil && ip.IsUnspecified() {
		loop := "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			loop = "::1"
		}
		u.Host = net.JoinHostPort(loop, u.Port())
	}
	return u.String()
}

// ClusterAddr is the route address other members connect to, or "" for a
// single server.
func (s *Server) ClusterAddr() string {
	if a := s.ns.ClusterAddr(); a != nil {
		return a.String()
	}
	return ""
}

// Name is the server's name.
func (s *Server) Name() string { return s.ns.Name() }

// Shutdown stops the server and waits until it has stopped.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

// Running reports whether the server still runs.
func (s *Server) Running() bool { return s.ns.Running() }

// serverLog sends the server's log to slog: notices at debug (the server
// is chatty at start), warnings and errors as such.
type serverLog struct{ l *slog.Logger }

func (s *serverLog) Noticef(format string, v ...any) { s.l.Debug(fmt.Sprintf(format, v...)) }
func (s *serverLog) Warnf(format string, v ...any)   { s.l.Warn(fmt.Sprintf(format, v...)) }
func (s *serverLog) Fatalf(format string, v ...any)  { s.l.Error(fmt.Sprintf(format, v...)) }
func (s *serverLog) Errorf(format string, v ...any)  { s.l.Warn(fmt.Sprintf(format, v...)) }
func (s *serverLog) Debugf(format string, v ...any)  {}
func (s *serverLog) Tracef(format string, v ...any)  {}
