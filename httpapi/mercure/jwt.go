package mercure

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DetailType is the authorization_details type of a Mercure grant.
const DetailType = "https://mercure.rocks/authorization-detail"

// Bounds on what one token may carry; past them it is an invalid token.
const (
	maxDetails       = 64
	maxDetailTopics  = 256
	maxMatcherLength = 2048
)

// Key verifies the tokens of one role (publishers or subscribers).
type Key struct {
	// Alg is the signature algorithm, HS256 (default) or RS256; tokens
	// signed with anything else are refused.
	Alg string
	// Key is the HS256 secret, or the RS256 public key in PEM.
	Key string
}

type verifier struct {
	alg string
	key any
}

func newVerifier(k Key) (*verifier, error) {
	if k.Key == "" {
		return nil, nil
	}
	v := &verifier{alg: k.Alg}
	if v.alg == "" {
		v.alg = "HS256"
	}
	switch v.alg {
	case "HS256", "HS384", "HS512":
		v.key = []byte(k.Key)
	case "RS256", "RS384", "RS512":
		pub, err := jwt.ParseRSAPublicKeyFromPEM([]byte(k.Key))
		if err != nil {
			return nil, fmt.Errorf("the %s key is not an RSA public key in PEM: %w", v.alg, err)
		}
		v.key = pub
	default:
		return nil, fmt.Errorf("unsupported algorithm %q (want HS256 or RS256)", v.alg)
	}
	return v, nil
}

// grant is what one authorization detail (or the legacy claim) allows.
type grant struct {
	publish, subscribe bool
	topics             matchers
	payload            json.RawMessage
}

// claims is a verified token's authority.
type claims struct {
	grants  []grant
	expires time.Time // zero: the token has no exp
	subject string
	issuer  string
}

// may reports whether the claims grant the action (publish or subscribe)
// on one of topics.
func (c *claims) may(publish bool, topics []string, base string) bool {
	for _, g := range c.grants {
		if (publish && g.publish || !publish && g.subscribe) && g.topics.match(topics, base) {
			return true
		}
	}
	return false
}

// payloadFor is the payload of the first subscribe grant whose topics
// match the subscription's own matcher string.
func (c *claims) payloadFor(match, base string) json.RawMessage {
	for _, g := range c.grants {
		if g.subscribe && g.topics.match([]string{match}, base) {
			return g.payload
		}
	}
	return nil
}

// errInvalidToken is every verification failure: the reason is logged at
// debug level at most, never told to the client (the specification's
// advice, so that a bad signature is not told from an expired token).
var errInvalidToken = errors.New("invalid token")

// verifyToken checks raw's signature with v and the claims, and returns
// its grants. issuers and audience, when set, are enforced on access
// tokens (typ at+jwt); legacy tokens with a `mercure` claim predate them.
func verifyToken(v *verifier, raw string, issuers []string, audience, base string) (*claims, error) {
	if v == nil {
		return nil, fmt.Errorf("%w: no key is configured for this role", errInvalidToken)
	}
	var mc jwt.MapClaims
	tok, err := jwt.ParseWithClaims(raw, &mc, func(*jwt.Token) (any, error) { return v.key, nil },
		jwt.WithValidMethods([]string{v.alg}), jwt.WithLeeway(5*time.Second), jwt.WithStrictDecoding())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errInvalidToken, err)
	}
	c := &claims{}
	c.subject, _ = mc["sub"].(string)
	c.issuer, _ = mc["iss"].(string)
	if exp, err := mc.GetExpirationTime(); err == nil && exp != nil {
		c.expires = exp.Time
	}
	if ad, ok := mc["authorization_details"]; ok {
		typ, _ := tok.Header["typ"].(string)
		typ = strings.ToLower(strings.TrimPrefix(strings.ToLower(typ), "application/"))
		if typ != "at+jwt" {
			return nil, fmt.Errorf("%w: typ is %q, want at+jwt", errInvalidToken, typ)
		}
		if c.expires.IsZero() {
			return nil, fmt.Errorf("%w: no exp", errInvalidToken)
		}
		if len(issuers) > 0 && !slices.Contains(issuers, c.issuer) {
			return nil, fmt.Errorf("%w: iss %q is not trusted", errInvalidToken, c.issuer)
		}
		if audience != "" {
			aud, _ := mc.GetAudience()
			if !slices.Contains(aud, audience) {
				return nil, fmt.Errorf("%w: aud does not name %q", errInvalidToken, audience)
			}
		}
		if c.grants, err = parseDetails(ad, base); err != nil {
			return nil, fmt.Errorf("%w: %w", errInvalidToken, err)
		}
		return c, nil
	}
	legacy, ok := mc["mercure"]
	if !ok {
		legacy, ok = mc["https://mercure.rocks/"]
	}
	if ok {
		if c.grants, err = parseLegacy(legacy, base); err != nil {
			return nil, fmt.Errorf("%w: %w", errInvalidToken, err)
		}
	}
	return c, nil
}

// parseDetails reads authorization_details: only Mercure details count,
// and one that does not validate fails the whole token.
func parseDetails(v any, base string) ([]grant, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, errors.New("authorization_details is not an array")
	}
	if len(list) > maxDetails {
		return nil, fmt.Errorf("more than %d authorization details", maxDetails)
	}
	var out []grant
	for i, d := range list {
		obj, ok := d.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("authorization_details[%d] is not an object", i)
		}
		if t, _ := obj["type"].(string); t != DetailType {
			continue
		}
		g, err := parseDetail(obj, base)
		if err != nil {
			return nil, fmt.Errorf("authorization_details[%d]: %w", i, err)
		}
		out = append(out, g)
	}
	return out, nil
}

func parseDetail(obj map[string]any, base string) (grant, error) {
	var g grant
	actions, ok := obj["actions"].([]any)
	if !ok || len(actions) == 0 {
		return g, errors.New("actions must be a non-empty array")
	}
	for _, a := range actions {
		s, ok := a.(string)
		if !ok {
			return g, errors.New("an action is not a string")
		}
		switch s {
		case "publish":
			g.publish = true
		case "subscribe":
			g.subscribe = true
		}
	}
	topics, ok := obj["topics"].([]any)
	if !ok || len(topics) == 0 {
		return g, errors.New("topics must be a non-empty array")
	}
	if len(topics) > maxDetailTopics {
		return g, fmt.Errorf("more than %d topics", maxDetailTopics)
	}
	for _, t := range topics {
		tm, ok := t.(map[string]any)
		if !ok {
			return g, errors.New("a topic matcher is not an object")
		}
		m, err := claimMatcher(tm, typeExact, base)
		if err != nil {
			return g, err
		}
		g.topics = append(g.topics, m)
	}
	if p, ok := obj["payload"]; ok {
		if _, isObj := p.(map[string]any); !isObj {
			return g, errors.New("payload is not an object")
		}
		g.payload, _ = json.Marshal(p)
	}
	return g, nil
}

// claimMatcher reads {"match": …, "match_type": …}.
func claimMatcher(tm map[string]any, defaultType, base string) (*matcher, error) {
	pattern, ok := tm["match"].(string)
	if !ok {
		return nil, errors.New("a topic matcher has no string match")
	}
	typ := defaultType
	if mt, present := tm["match_type"]; present {
		if typ, ok = mt.(string); !ok {
			return nil, errors.New("match_type is not a string")
		}
	}
	if len(pattern) > maxMatcherLength {
		return nil, fmt.Errorf("a matcher is longer than %d bytes", maxMatcherLength)
	}
	if err := checkText(pattern); err != nil {
		return nil, fmt.Errorf("a matcher %w", err)
	}
	return newMatcher(typ, pattern, base)
}

// parseLegacy reads the pre-standard {"publish": [...], "subscribe":
// [...]} claim, whose selectors are strings (exact or URI Template, or
// "*") or matcher objects, with an optional payload.
func parseLegacy(v any, base string) ([]grant, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("the mercure claim is not an object")
	}
	var payload json.RawMessage
	if p, ok := obj["payload"]; ok {
		payload, _ = json.Marshal(p)
	}
	var out []grant
	for _, action := range []string{"publish", "subscribe"} {
		raw, present := obj[action]
		if !present || raw == nil {
			continue
		}
		list, ok := raw.([]any)
		if !ok {
			return nil, fmt.Errorf("mercure.%s is not an array", action)
		}
		if len(list) > maxDetailTopics {
			return nil, fmt.Errorf("mercure.%s has more than %d selectors", action, maxDetailTopics)
		}
		g := grant{publish: action == "publish", subscribe: action == "subscribe", payload: payload}
		for _, s := range list {
			var m *matcher
			var err error
			switch s := s.(type) {
			case string:
				if len(s) > maxMatcherLength {
					return nil, fmt.Errorf("a selector is longer than %d bytes", maxMatcherLength)
				}
				m, err = newMatcher(typeURITemplate, s, base)
			case map[string]any:
				m, err = claimMatcher(s, typeURITemplate, base)
			default:
				err = fmt.Errorf("mercure.%s holds a %T", action, s)
			}
			if err != nil {
				return nil, err
			}
			g.topics = append(g.topics, m)
		}
		out = append(out, g)
	}
	return out, nil
}
