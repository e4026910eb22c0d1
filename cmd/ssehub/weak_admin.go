package main

import (
	"log/slog"
	"os"

	"github.com/ssehub/ssehub/config"
)

// minAdminTokenLen is the shortest admin token serve takes without a
// warning: 32 characters, 128 bits as hex. The hub does not slow down
// guessing, so only a token nobody can guess protects it.
const minAdminTokenLen = 32

// configuredAdminToken returns the admin token the operator set, from
// auth.admin_token or SSEHUB_ADMIN_TOKEN, or "".
func configuredAdminToken(cfg *config.Config) string {
	if cfg.Auth.AdminToken != "" {
		return cfg.Auth.AdminToken
	}
	return os.Getenv("SSEHUB_ADMIN_TOKEN")
}

// warnWeakAdminToken warns, at every start, of an admin token the
// operator set that is too short to be safe from guessing, without
// logging it.
func warnWeakAdminToken(cfg *config.Config, logger *slog.Logger) {
	if tok := configuredAdminToken(cfg); tok != "" && len(tok) < minAdminTokenLen {
		logger.Warn("the admin token is too short to be safe from guessing: set auth.admin_token (SSEHUB_ADMIN_TOKEN) to a random one, "+
			"e.g. from 'openssl rand -hex 32', or unset it and the hub generates one at its first start",
			"length", len(tok), "want_at_least", minAdminTokenLen)
	}
}
