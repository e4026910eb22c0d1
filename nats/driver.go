package nats

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/ssehub/ssehub"
)

func init() {
	ssehub.RegisterDriver(ssehub.Driver{
		Name:     "nats",
		Summary:  "NATS JetStream: several hub nodes on one replicated stream (external servers, or embedded in each hub)",
		Open:     openDriver,
		Validate: func(cfg ssehub.StoreConfig) error { _, err := settingsOf(cfg); return err },
		Describe: describe,
	})
}

func describe(cfg ssehub.StoreConfig) string {
	s, err := settingsOf(cfg)
	if err != nil {
		return "nats"
	}
	where := shownURL(s.URL)
	if e := s.Embedded; e != nil {
		where = "embedded server " + e.Name + " on " + e.Listen
		if e.ClusterListen != "" {
			where += ", cluster " + e.ClusterListen
		}
		if s.URL != "" {
			where += " and " + shownURL(s.URL)
		}
	}
	return fmt.Sprintf("nats stream %s (R%d) at %s", s.Stream, s.Replicas, where)
}

func openDriver(ctx context.Context, cfg ssehub.StoreConfig) (ssehub.Store, error) {
	st, err := settingsOf(cfg)
	if err != nil {
		return nil, err
	}
	o := Options{URL: st.URL, Stream: st.Stream, SubjectPrefix: st.SubjectPrefix, Replicas: st.Replicas, StorageType: st.StorageType,
		MaxBatch: st.MaxBatch, PublishTimeout: st.PublishTimeout, ReadyTimeout: st.ReadyTimeout,
		Retention: cfg.Retention, DedupeWindow: cfg.DedupeWindow, Logger: cfg.Logger}
	if o.NATS, err = clientOptions(st); err != nil {
		return nil, err
	}
	if e := st.Embedded; e != nil {
		if err := os.MkdirAll(e.StoreDir, 0o700); err != nil {
			return nil, fmt.Errorf("storage.nats.embedded.store_dir: %w", err)
		}
		srv, err := StartServer(*e, st.User, st.Password, st.Token, cfg.Logger)
		if err != nil {
			return nil, err
		}
		urls := []string{srv.ClientURL()}
		if st.URL != "" {
			urls = append(urls, st.URL)
		}
		o.URL, o.server = strings.Join(urls, ","), srv
		cfg.Logger.Info("nats: embedded server started", "name", srv.Name(), "client", srv.ClientURL(), "cluster", srv.ClusterAddr())
	}
	s, err := Open(ctx, o)
	if err != nil {
		if o.server != nil {
			o.server.Shutdown()
		}
		return nil, err
	}
	return s, nil
}

// clientOptions turns the credentials and TLS settings into client options.
func clientOptions(st Settings) ([]nats.Option, error) {
	var opts []nats.Option
	switch {
	case st.User != "":
		opts = append(opts, nats.UserInfo(st.User, st.Password))
	case st.Token != "":
		opts = append(opts, nats.Token(st.Token))
	case st.NKeyFile != "":
		o, err := nats.NkeyOptionFromSeed(st.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("storage.nats.nkey_file: %w", err)
		}
		opts = append(opts, o)
	case st.CredsFile != "":
		if _, err := os.Stat(st.CredsFile); err != nil {
			return nil, fmt.Errorf("storage.nats.creds_file: %w", err)
		}
		opts = append(opts, nats.UserCredentials(st.CredsFile))
	}
	if t := st.TLS; t != nil {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if t.CA != "" {
			pem, err := os.ReadFile(t.CA)
			if err != nil {
				return nil, fmt.Errorf("storage.nats.tls.ca: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("storage.nats.tls.ca: %s holds no PEM certificate", t.CA)
			}
			tc.RootCAs = pool
		}
		if t.Cert != "" {
			cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
			if err != nil {
				return nil, fmt.Errorf("storage.nats.tls: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		opts = append(opts, nats.Secure(tc))
	}
	return opts, nil
}
