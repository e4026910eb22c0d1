package durable

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/ssehub/ssehub"
)

// subKeys are the hub's subscription keys, kept in the KV (so every node
// on one store, and every restart, uses the same ones): the Ed25519 key
// that signs webhook requests, published at /v1/stream/__ds/jwks.json,
// and the HMAC key that signs callback and claim tokens.
type subKeys struct {
	sign ed25519.PrivateKey
	kid  string
	hmac []byte
}

const (
	keyEd25519 = "webhook_ed25519_seed"
	keyHMAC    = "token_hmac"
)

// loadSubKeys reads the keys, creating them on first use. On a store that
// several nodes share (ssehub.KVSwapper) a key is created only if absent,
// so nodes starting together agree on one.
func loadSubKeys(ctx context.Context, kv ssehub.KV) (*subKeys, error) {
	seed, err := loadKey(ctx, kv, keyEd25519, ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	h, err := loadKey(ctx, kv, keyHMAC, 32)
	if err != nil {
		return nil, err
	}
	k := &subKeys{sign: ed25519.NewKeyFromSeed(seed), hmac: h}
	// RFC 7638 thumbprint of the public JWK: stable for the key's life.
	thumb := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + k.x() + `"}`))
	k.kid = "ds_" + base64.RawURLEncoding.EncodeToString(thumb[:16])
	return k, nil
}

func loadKey(ctx context.Context, kv ssehub.KV, name string, n int) ([]byte, error) {
	b, err := kv.Get(ctx, SubscriptionKeysBucket, name)
	if err == nil && len(b) == n {
		return b, nil
	}
	if err != nil && !errors.Is(err, ssehub.ErrNotFound) {
		return nil, fmt.Errorf("durable streams: reading the %s key: %w", name, err)
	}
	fresh := make([]byte, n)
	_, _ = rand.Read(fresh)
	if c, ok := kv.(ssehub.KVSwapper); ok {
		if err := c.CompareAndSwap(ctx, SubscriptionKeysBucket, name, nil, fresh); err != nil && !errors.Is(err, ssehub.ErrConflict) {
			return nil, fmt.Errorf("durable streams: storing the %s key: %w", name, err)
		}
		// Created, or another node's was there first: read the one stored.
		b, err := kv.Get(ctx, SubscriptionKeysBucket, name)
		if err != nil || len(b) != n {
			return nil, fmt.Errorf("durable streams: reading the %s key back: %v", name, err)
		}
		return b, nil
	}
	if err := kv.Put(ctx, SubscriptionKeysBucket, name, fresh); err != nil {
		return nil, fmt.Errorf("durable streams: storing the %s key: %w", name, err)
	}
	return fresh, nil
}

func (k *subKeys) x() string {
	return base64.RawURLEncoding.EncodeToString(k.sign.Public().(ed25519.PublicKey))
}

// jwks is the JSON Web Key Set of the webhook signing key.
func (k *subKeys) jwks() map[string]any {
	return map[string]any{"keys": []map[string]string{{"kty": "OKP", "crv": "Ed25519", "kid": k.kid, "use": "sig", "alg": "EdDSA", "x": k.x()}}}
}

// signature is the Webhook-Signature header of body sent at t.
func (k *subKeys) signature(t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	msg := make([]byte, 0, len(ts)+1+len(body))
	msg = append(append(append(msg, ts...), '.'), body...)
	sig := ed25519.Sign(k.sign, msg)
	return "t=" + ts + ",kid=" + k.kid + ",ed25519=" + base64.RawURLEncoding.EncodeToString(sig)
}

// wakeClaims are what a callback or claim token says: the subscription
// (its id and the nonce of its creation), the generation and the wake.
type wakeClaims struct {
	Nonce string `json:"nonce"`
	Gen   uint64 `json:"gen"`
	Wake  string `json:"wake"`
	jwt.RegisteredClaims
}

// tokenTTL bounds a callback or claim token's life; the generation and
// wake fencing is what ends its use in practice.
const tokenTTL = time.Hour

// token signs a token for rec's current wake (an HS256 JWT).
func (k *subKeys) token(rec *subRecord, now time.Time) string {
	c := wakeClaims{Nonce: rec.Nonce, Gen: rec.Generation, Wake: rec.WakeID, RegisteredClaims: jwt.RegisteredClaims{
		Subject: "subscription:" + rec.ID, IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(tokenTTL))}}
	s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(k.hmac)
	return s
}

// errTokenExpired and errTokenInvalid are verify's refusals.
var (
	errTokenExpired = errors.New("the token has expired")
	errTokenInvalid = errors.New("the token is not valid for this subscription")
)

// verify checks a token's signature, expiry and subscription.
func (k *subKeys) verify(tok string, rec *subRecord, now time.Time) (*wakeClaims, error) {
	var c wakeClaims
	_, err := jwt.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return k.hmac, nil },
		jwt.WithStrictDecoding(), jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithSubject("subscription:"+rec.ID), jwt.WithExpirationRequired())
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, errTokenExpired
	case err != nil:
		return nil, errTokenInvalid
	case c.Nonce != rec.Nonce: // a token of a deleted subscription of the same id
		return nil, errTokenInvalid
	}
	return &c, nil
}
