package config

import (
	"net"
	"strings"
)

// UI configures the web console at /ui/ (package httpapi/ui).
type UI struct {
	// Enabled serves the console. Absent, it is served only when
	// server.addr binds a loopback address (127.0.0.1, ::1, localhost):
	// a hub listening on every interface (":8080", the default) or a
	// public one serves it only when enabled here.
	Enabled *bool `yaml:"enabled"`
}

// On reports whether the console is served by a hub listening on addr.
func (u UI) On(addr string) bool {
	if u.Enabled != nil {
		return *u.Enabled
	}
	return LoopbackAddr(addr)
}

// OffReason says why the console is off for addr, for the startup banner.
func (u UI) OffReason(addr string) string {
	if u.Enabled != nil {
		return "ui.enabled: false"
	}
	return addr + " is not a loopback address; ui.enabled: true serves the console there"
}

// LoopbackAddr reports whether a listen address (host:port) binds only a
// loopback interface: localhost, 127.0.0.0/8 or ::1. An empty host (":8080")
// binds every interface.
func LoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
