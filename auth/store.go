package auth

import (
	"context"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ssehub/ssehub"
)

// KV buckets the tokens live in.
const (
	tokensBucket = "tokens"       // id → Token JSON
	hashesBucket = "token_hashes" // hex hash → id
)

// Store keeps tokens in the hub's KV.
type Store struct {
	kv  ssehub.KV
	now func() time.Time
}

// NewStore returns a token store over kv.
func NewStore(kv ssehub.KV) *Store { return &Store{kv: kv, now: time.Now} }

// CreateOptions describe a new token.
type CreateOptions struct {
	Purpose Purpose
	Topics  []string      // patterns; empty means every topic
	TTL     time.Duration // 0 = never expires
	Label   string
	Parent  string // the id of the token minting this one, if any (Token.Parent)
}

// Create issues a token and returns its secret (shown once) and record.
func (s *Store) Create(ctx context.Context, o CreateOptions) (string, Token, error) {
	if _, err := ParsePurpose(string(o.Purpose)); err != nil {
		return "", Token{}, err
	}
	if _, err := ssehub.ParsePatterns(o.Topics...); err != nil {
		return "", Token{}, err
	}
	if o.TTL < 0 {
		return "", Token{}, errors.New("ttl must not be negative")
	}
	if err := ValidateLabel(o.Label); err != nil {
		return "", Token{}, err
	}
	if o.Parent != "" {
		if err := s.checkDepth(ctx, o.Parent); err != nil {
			return "", Token{}, err
		}
	}
	secret, err := Generate()
	if err != nil {
		return "", Token{}, err
	}
	h := Hash(secret)
	var idb [8]byte
	copy(idb[:], h[24:]) // the id is derived from the hash, never from the secret itself
	now := s.now().UTC()
	t := Token{ID: "tok_" + hex.EncodeToString(idb[:]), Hash: hex.EncodeToString(h[:]), Purpose: o.Purpose,
		Topics: o.Topics, Label: o.Label, CreatedAt: now, Parent: o.Parent}
	if o.TTL > 0 {
		t.ExpiresAt = now.Add(o.TTL)
	}
	if err := s.put(ctx, &t); err != nil {
		return "", Token{}, err
	}
	if err := s.kv.Put(ctx, hashesBucket, t.Hash, []byte(t.ID)); err != nil {
		return "", Token{}, fmt.Errorf("store token: %w", err)
	}
	return secret, t, nil
}

func (s *Store) put(ctx context.Context, t *Token) error {
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	if err := s.kv.Put(ctx, tokensBucket, t.ID, b); err != nil {
		return fmt.Errorf("store token: %w", err)
	}
	return nil
}

// Get returns the token with id, or ssehub.ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (Token, error) {
	b, err := s.kv.Get(ctx, tokensBucket, id)
	if err != nil {
		return Token{}, err
	}
	var t Token
	if err := json.Unmarshal(b, &t); err != nil {
		return Token{}, fmt.Errorf("token %s: %w", id, err)
	}
	return t, nil
}

// List returns every token, oldest first.
func (s *Store) List(ctx context.Context) ([]Token, error) {
	var out []Token
	err := s.kv.List(ctx, tokensBucket, func(_ string, v []byte) error {
		var t Token
		if err := json.Unmarshal(v, &t); err != nil {
			return err
		}
		out = append(out, t)
		return nil
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, err
}

// Revoke revokes the token with id and every token minted under it
// (RevokeTree); it returns ssehub.ErrNotFound for an unknown id. Revoking
// twice keeps the first time.
func (s *Store) Revoke(ctx context.Context, id string) (Token, error) {
	t, _, err := s.RevokeTree(ctx, id)
	return t, err
}

// RevokeTree revokes the token with id and every token whose Parent chain
// leads to it, and returns the token and the ids of all it revoked (id
// first), so that their open streams can be ended too.
func (s *Store) RevokeTree(ctx context.Context, id string) (Token, []string, error) {
	t, err := s.revoke(ctx, id)
	if err != nil {
		return Token{}, nil, err
	}
	all, err := s.List(ctx)
	if err != nil {
		return t, []string{id}, err
	}
	children := map[string][]string{}
	for _, c := range all {
		if c.Parent != "" {
			children[c.Parent] = append(children[c.Parent], c.ID)
		}
	}
	ids := []string{id}
	seen := map[string]bool{id: true} // a cycle only a corrupt store holds
	for i := 0; i < len(ids); i++ {
		for _, c := range children[ids[i]] {
			if seen[c] {
				continue
			}
			seen[c] = true
			if _, err := s.revoke(ctx, c); err != nil && !errors.Is(err, ssehub.ErrNotFound) {
				return t, ids, err
			}
			ids = append(ids, c)
		}
	}
	return t, ids, nil
}

func (s *Store) revoke(ctx context.Context, id string) (Token, error) {
	t, err := s.Get(ctx, id)
	if err != nil {
		return Token{}, err
	}
	if t.RevokedAt.IsZero() {
		t.RevokedAt = s.now().UTC()
		if err := s.put(ctx, &t); err != nil {
			return Token{}, err
		}
	}
	return t, nil
}

// maxParents bounds the minters Lookup follows up a token's Parent chain,
// and so how deep minted tokens nest (Create refuses deeper).
const maxParents = 16

// ErrTooDeep is Create's answer for a token minted under more than
// maxParents minters.
var ErrTooDeep = fmt.Errorf("minted tokens nest at most %d deep", maxParents)

// checkDepth refuses a new token under parent when its chain of minters
// would be longer than Lookup follows.
func (s *Store) checkDepth(ctx context.Context, parent string) error {
	id := parent
	for range maxParents {
		p, err := s.Get(ctx, id)
		if err != nil {
			return fmt.Errorf("the minting token %s: %w", id, err)
		}
		if p.Parent == "" {
			return nil
		}
		id = p.Parent
	}
	return ErrTooDeep
}

// parentRevoked reports whether a token up t's Parent chain is revoked or
// gone: a minted token works only while every token that minted it does
// (RevokeTree revokes them all at once; this covers one minted while its
// minter was being revoked). Expiry needs no walk: a minted token expires
// no later than its minter.
func (s *Store) parentRevoked(ctx context.Context, t *Token) (bool, error) {
	id := t.Parent
	for range maxParents {
		if id == "" {
			return false, nil
		}
		p, err := s.Get(ctx, id)
		if errors.Is(err, ssehub.ErrNotFound) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		if !p.RevokedAt.IsZero() {
			return true, nil
		}
		id = p.Parent
	}
	return true, nil // deeper than any chain the API makes: a corrupt store
}

// Lookup returns the valid token whose secret is given, or ErrMalformed,
// ErrUnknown, ErrExpired or ErrRevoked.
func (s *Store) Lookup(ctx context.Context, secret string) (Token, error) {
	if !WellFormed(secret) {
		return Token{}, ErrMalformed
	}
	h := Hash(secret)
	hexHash := hex.EncodeToString(h[:])
	id, err := s.kv.Get(ctx, hashesBucket, hexHash)
	if errors.Is(err, ssehub.ErrNotFound) {
		return Token{}, ErrUnknown
	}
	if err != nil {
		return Token{}, err
	}
	t, err := s.Get(ctx, string(id))
	if errors.Is(err, ssehub.ErrNotFound) {
		return Token{}, ErrUnknown
	}
	if err != nil {
		return Token{}, err
	}
	if subtle.ConstantTimeCompare([]byte(t.Hash), []byte(hexHash)) != 1 {
		return Token{}, ErrUnknown
	}
	if !t.RevokedAt.IsZero() {
		return t, ErrRevoked
	}
	if t.Expired(s.now()) {
		return t, ErrExpired
	}
	if gone, err := s.parentRevoked(ctx, &t); err != nil {
		return Token{}, err
	} else if gone {
		return t, ErrRevoked
	}
	return t, nil
}

// Check returns nil when t may be used for purpose on every topic f
// matches (the topics a request names), else ErrPurpose or ErrScope.
func Check(t *Token, purpose Purpose, f ssehub.Filter) error {
	if !t.Purpose.Allows(purpose) {
		return ErrPurpose
	}
	if !t.Scope().Covers(f) {
		return fmt.Errorf("%w: %s", ErrScope, outside(t.Scope(), f))
	}
	return nil
}

// outside names the patterns of f that scope does not cover.
func outside(scope, f ssehub.Filter) string {
	var out []string
	for _, p := range f.Patterns() {
		if !scope.Covers(ssehub.NewFilter(p)) {
			out = append(out, p.String())
		}
	}
	return strings.Join(out, ",")
}
