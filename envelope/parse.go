package envelope

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/ssehub/ssehub"
)

// publish is one event in a POST /publish body. event_type, event_id and
// entity_id are Inboxclaw's names of topic, key and entity, so that a
// publisher can send the envelope's own shape.
type publish struct {
	Topic     string         `json:"topic"`
	EventType string         `json:"event_type"`
	Type      string         `json:"type"`
	Data      jsontext.Value `json:"data"`
	Key       string         `json:"key"`
	EventID   string         `json:"event_id"`
	Entity    string         `json:"entity"`
	EntityID  string         `json:"entity_id"`
	Source    jsontext.Value `json:"source"`
	Meta      jsontext.Value `json:"meta"`
}

// decodeOptions decode an envelope as encoding/json did (names match
// case-insensitively, a repeated name keeps the last value, invalid UTF-8
// is kept as sent), except that unknown names are errors. json v2 decodes
// NDJSON batches about 3× faster than encoding/json's Decoder.
var decodeOptions = jsonv2.JoinOptions(
	jsonv2.RejectUnknownMembers(true),
	jsonv2.MatchCaseInsensitiveNames(true),
	jsontext.AllowDuplicateNames(true),
	jsontext.AllowInvalidUTF8(true),
)

// Parse decodes one publish envelope: an object with "topic" and any of
// "type", "data", "key", "entity", "source" and "meta"; "event_type",
// "event_id" and "entity_id" are accepted as Inboxclaw's names of topic,
// key and entity (giving both names of a field with different values is an
// error). A JSON string as data is stored as its text; any other JSON value
// as its JSON text; null or absent as no data. source is a string, or an
// object such as {"id":1,"name":"web_frontend"} kept as its compact JSON
// text (see SourceObject); a string source must not start with '{'. meta
// must be an object or null. Unknown names are errors. Parse checks the
// syntax only: the caller validates the fields.
func Parse(b []byte) (*ssehub.Event, error) {
	ev := new(ssehub.Event)
	if err := ParseInto(ev, b); err != nil {
		return nil, err
	}
	return ev, nil
}

// ParseInto is Parse into an event the caller provides (say one of a
// batch's, allocated together); it sets every field Parse sets, and on
// error leaves ev in an unspecified state.
func ParseInto(ev *ssehub.Event, b []byte) error {
	var env publish
	if !decodeFast(b, &env) {
		if name, ok := duplicateMember(b); ok {
			return fmt.Errorf("invalid envelope: member %.40q is given twice (names match case-insensitively)", name)
		}
		slow := new(publish) // apart from env, which then stays on the stack
		if err := jsonv2.Unmarshal(b, slow, decodeOptions); err != nil {
			return fmt.Errorf("invalid envelope: %w", err)
		}
		env = *slow
	}
	topic, err := alias("topic", env.Topic, "event_type", env.EventType)
	if err != nil {
		return err
	}
	key, err := alias("key", env.Key, "event_id", env.EventID)
	if err != nil {
		return err
	}
	entity, err := alias("entity", env.Entity, "entity_id", env.EntityID)
	if err != nil {
		return err
	}
	*ev = ssehub.Event{Topic: topic, Type: env.Type, Key: key, Entity: entity}
	if ev.Source, err = ParseSource(env.Source); err != nil {
		return err
	}
	if len(env.Data) > 0 && env.Data[0] == '"' {
		var str string
		if err := jsonv2.Unmarshal(env.Data, &str, decodeOptions); err != nil {
			return fmt.Errorf("invalid envelope data: %w", err)
		}
		ev.Data = []byte(str)
	} else if len(env.Data) > 0 && string(env.Data) != "null" {
		ev.Data = env.Data
	}
	if len(env.Meta) > 0 && string(env.Meta) != "null" {
		if env.Meta[0] != '{' {
			return errors.New("invalid envelope: meta must be a JSON object")
		}
		if !env.Meta.IsValid(jsontext.AllowInvalidUTF8(true)) {
			// Valid JSON already: a member named twice at some depth,
			// which readers of meta would take one way or the other.
			return errors.New("invalid envelope: meta names a member twice")
		}
		ev.Meta = json.RawMessage(env.Meta)
	}
	return nil
}

// duplicateMember returns a member name that an envelope object gives
// twice, names compared case-insensitively as they match: a repeated
// "topic" must not be read one way by the hub (the last) and another by a
// proxy or a log (the first). The decoder allows duplicates (it would also
// refuse them inside data, which is stored as it came), so they are looked
// for here, on the slow path only: the fast one takes no repeated member.
func duplicateMember(b []byte) (string, bool) {
	d := jsontext.NewDecoder(bytes.NewReader(b), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	if tok, err := d.ReadToken(); err != nil || tok.Kind() != '{' {
		return "", false
	}
	var seen []string // an envelope has ten members at most
	for d.PeekKind() == '"' {
		tok, err := d.ReadToken()
		if err != nil {
			return "", false
		}
		// Folded as json v2 folds a name it matches case-insensitively.
		name := strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(tok.String()))
		if slices.Contains(seen, name) {
			return tok.String(), true
		}
		if seen = append(seen, name); len(seen) > len(names) {
			return "", false // an unknown member: Unmarshal refuses it
		}
		if err := d.SkipValue(); err != nil {
			return "", false
		}
	}
	return "", false
}

// ParseSource returns the stored form of a publish envelope's source: ""
// for none or null, a JSON string's text, or an object's compact JSON
// text. Anything else, and a string starting with '{' (which would read
// back as an object), is an error.
func ParseSource(v []byte) (string, error) {
	v = bytes.TrimSpace(v)
	switch {
	case len(v) == 0 || string(v) == "null":
		return "", nil
	case v[0] == '"':
		var s string
		if err := jsonv2.Unmarshal(v, &s, decodeOptions); err != nil {
			return "", fmt.Errorf("invalid envelope source: %w", err)
		}
		return CheckSourceText(s)
	case v[0] == '{':
		var buf bytes.Buffer
		if err := json.Compact(&buf, v); err != nil {
			return "", fmt.Errorf("invalid envelope source: %w", err)
		}
		return buf.String(), nil
	}
	return "", errors.New(`invalid envelope: source must be a string or an object such as {"id":1,"name":"web_frontend"}`)
}

// CheckSourceText returns a source given as text (a query parameter, a
// JSON string): a JSON object's compact text when it is one, else the
// text, which must then not start with '{'.
func CheckSourceText(s string) (string, error) {
	if len(s) > 0 && s[0] == '{' {
		var buf bytes.Buffer
		if err := json.Compact(&buf, []byte(s)); err != nil {
			return "", errors.New(`invalid source: a source starting with '{' must be a JSON object such as {"id":1,"name":"web_frontend"}`)
		}
		return buf.String(), nil
	}
	return s, nil
}

// alias returns the value of a field that has two names, or an error when
// both are given and differ.
func alias(name, v, otherName, other string) (string, error) {
	switch {
	case v == "":
		return other, nil
	case other == "" || other == v:
		return v, nil
	}
	return "", fmt.Errorf("invalid envelope: %s %.40q and %s %.40q differ (they name the same field)", name, v, otherName, other)
}
