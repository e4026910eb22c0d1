// Package auth issues and checks the hub's tokens: 64 lowercase hex
// characters from crypto/rand, shown once, kept only as their SHA-256,
// compared in constant time, each with a purpose, topic scopes, an optional
// expiry, a label, and revocable.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/ssehub/ssehub"
)

// Purpose is what a token may be used for.
type Purpose string

// The purposes. An admin token may do everything.
const (
	PurposeStream  Purpose = "stream"
	PurposePublish Purpose = "publish"
	PurposeAdmin   Purpose = "admin"
)

// ParsePurpose accepts stream, publish, its alias ingest, and admin.
func ParsePurpose(s string) (Purpose, error) {
	switch s {
	case "stream":
		return PurposeStream, nil
	case "publish", "ingest":
		return PurposePublish, nil
	case "admin":
		return PurposeAdmin, nil
	}
	return "", fmt.Errorf("unknown purpose %q (want stream, publish, ingest or admin)", s)
}

// Allows reports whether a token of purpose p may be used for want.
func (p Purpose) Allows(want Purpose) bool { return p == PurposeAdmin || p == want }

// Errors of Lookup, each mapping to one HTTP status.
var (
	// ErrMalformed: the token is not 64 lowercase hex characters (400).
	ErrMalformed = errors.New("malformed token: want 64 lowercase hex characters")
	// ErrUnknown: no such token (401).
	ErrUnknown = errors.New("unknown token")
	// ErrExpired: the token's expiry has passed (401).
	ErrExpired = errors.New("token expired")
	// ErrRevoked: the token was revoked (401).
	ErrRevoked = errors.New("token revoked")
	// ErrPurpose: the token's purpose does not allow the request (403).
	ErrPurpose = errors.New("token purpose does not allow this")
	// ErrScope: the topic is outside the token's scope (403).
	ErrScope = errors.New("topic outside the token's scope")
)

// Token is a token's record. The secret itself is never stored.
type Token struct {
	ID        string    `json:"id"`
	Hash      string    `json:"hash"` // hex SHA-256 of the secret
	Purpose   Purpose   `json:"purpose"`
	Topics    []string  `json:"topics"` // patterns; empty means "*"
	Label     string    `json:"label,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	// Parent is the id of the token that minted this one (a scoped admin
	// token), or empty (the admin token, or the command line): revoking
	// the parent revokes this one too.
	Parent string `json:"parent,omitempty"`
}

// Scope returns the topics the token may be used for.
func (t *Token) Scope() ssehub.Filter {
	if len(t.Topics) == 0 {
		return ssehub.All()
	}
	f, err := ssehub.ParseFilter(t.Topics...)
	if err != nil {
		return ssehub.Filter{} // a corrupt record matches nothing
	}
	return f
}

// Patterns returns the token's topic scope as patterns.
func (t *Token) Patterns() ssehub.Patterns {
	if len(t.Topics) == 0 {
		return ssehub.Patterns{ssehub.MustPattern("*")}
	}
	ps, err := ssehub.ParsePatterns(t.Topics...)
	if err != nil {
		return nil // a corrupt record matches nothing
	}
	return ps
}

// Expired reports whether the token has expired at now.
func (t *Token) Expired(now time.Time) bool { return !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt) }

// Generate returns a new secret: 32 random bytes as 64 lowercase hex characters.
func Generate() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// Hash returns the SHA-256 of a secret, the only form in which it is kept.
func Hash(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

// WellFormed reports whether s is 64 lowercase hex characters.
func WellFormed(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Info is what the API shows of a token: never the hash, and the secret
// only in the answer that creates it.
type Info struct {
	ID        string    `json:"id"`
	Token     string    `json:"token,omitempty"`
	Purpose   string    `json:"purpose"`
	Topics    []string  `json:"topics"`
	Label     string    `json:"label,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	Parent    string    `json:"parent,omitempty"`
}

// Info returns the token's public view; an empty scope shows as ["*"].
func (t *Token) Info() Info {
	topics := t.Topics
	if len(topics) == 0 {
		topics = []string{"*"}
	}
	return Info{ID: t.ID, Purpose: string(t.Purpose), Topics: topics, Label: t.Label,
		CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, RevokedAt: t.RevokedAt, Parent: t.Parent}
}
