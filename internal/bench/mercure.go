package bench

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The protocols Config.Protocol names.
const (
	// ProtocolSSEHub is ssehub's own API: GET /events?topic=…, POST
	// /publish/{topic} with Config.Token.
	ProtocolSSEHub = "ssehub"
	// ProtocolMercure is the Mercure protocol at /.well-known/mercure:
	// subscribe with ?topic=…, publish by form POST, both with HS256 JWTs
	// signed with Config.MercurePublisherKey / MercureSubscriberKey. ssehub
	// serves it (docs/mercure.md), and so does the reference hub, so the
	// same run measures both.
	ProtocolMercure = "mercure"
)

// mercurePath is the Mercure endpoint.
const mercurePath = "/.well-known/mercure"

// mercure reports whether the run speaks the Mercure protocol.
func (c *Config) mercure() bool { return c.Protocol == ProtocolMercure }

// MercureJWT returns an HS256 JWT signed with key whose mercure claim
// grants publish and subscribe on every topic ("*"), valid for ttl.
func MercureJWT(key []byte, ttl time.Duration) (string, error) {
	if len(key) == 0 {
		return "", fmt.Errorf("mercure: no JWT key (--mercure-key or MERCURE_PUBLISHER_JWT_KEY)")
	}
	claims := jwt.MapClaims{
		"mercure": map[string]any{"publish": []string{"*"}, "subscribe": []string{"*"}},
		"exp":     time.Now().Add(ttl).Unix(),
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(key)
	if err != nil {
		return "", fmt.Errorf("mercure: sign the JWT: %w", err)
	}
	return s, nil
}

// mercureRoles returns copies of c whose Token is the publishers' and the
// subscribers' Mercure JWT.
func (c *Config) mercureRoles() (pub, sub *Config, err error) {
	// Long enough for any run: a Mercure stream ends at its token's exp.
	const ttl = 24 * time.Hour
	pk := c.MercurePublisherKey
	sk := c.MercureSubscriberKey
	if len(sk) == 0 {
		sk = pk
	}
	pt, err := MercureJWT(pk, ttl)
	if err != nil {
		return nil, nil, err
	}
	st, err := MercureJWT(sk, ttl)
	if err != nil {
		return nil, nil, err
	}
	p, s := *c, *c
	p.Token, s.Token = pt, st
	return &p, &s, nil
}

// mercureTopic returns a Mercure topic (an IRI) no earlier run used.
func mercureTopic(scenario string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "https://bench.example/" + scenario + "/" + hex.EncodeToString(b[:])
}

// mercureSubscribePath is the subscription to topic.
func mercureSubscribePath(topic string) string {
	return mercurePath + "?topic=" + url.QueryEscape(topic)
}

// mercureForm appends the form body of a public update of data on topic.
func mercureForm(dst []byte, topic string, data []byte) []byte {
	dst = append(dst, "topic="...)
	dst = append(dst, url.QueryEscape(topic)...)
	dst = append(dst, "&data="...)
	return append(dst, url.QueryEscape(string(data))...)
}
