package main

import (
	"bytes"
	"context"
	"log"
	"log/slog"
)

// httpErrorLog is the http.Server's ErrorLog: net/http's lines at debug
// level (a client's failed TLS handshake, a connection it dropped: noise
// a public hub sees all day), but a handler's panic, with its stack, as an
// error, which no level an operator runs at may hide.
func httpErrorLog(logger *slog.Logger) *log.Logger {
	return log.New(httpLogWriter{logger}, "", 0)
}

type httpLogWriter struct{ l *slog.Logger }

func (w httpLogWriter) Write(p []byte) (int, error) {
	msg := string(bytes.TrimRight(p, "\n"))
	level := slog.LevelDebug
	if bytes.HasPrefix(p, []byte("http: panic serving")) || bytes.HasPrefix(p, []byte("http2: panic serving")) {
		level = slog.LevelError
	}
	w.l.Log(context.Background(), level, msg)
	return len(p), nil
}
