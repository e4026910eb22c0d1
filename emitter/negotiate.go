package emitter

import (
	"net/http"
	"strconv"
	"strings"
)

// WantsJSON reports whether the client explicitly prefers a JSON response
// to an event stream, so that one handler can serve both (the model of
// Hantera's ingresses): it is true only when the Accept header lists
// application/json with a q-value higher than the one that applies to
// text/event-stream (from text/event-stream, text/* or */*, the most
// specific range present) and higher than that of */*.
//
// No Accept header, "*/*", "text/event-stream", or a tie such as
// "application/json, text/event-stream" or "application/json, */*" all
// mean a stream. Media types compare case-insensitively, parameters other
// than q are ignored, and an element with a malformed q-value is ignored.
func WantsJSON(r *http.Request) bool {
	var (
		jsonQ   = -1.0 // application/json
		sseQ    = -1.0 // text/event-stream
		textQ   = -1.0 // text/*
		anyQ    = -1.0 // */*
		present = false
	)
	for _, header := range r.Header.Values("Accept") {
		for _, elem := range splitOutsideQuotes(header, ',') {
			mediaType, q, ok := parseAcceptElement(elem)
			if !ok {
				continue
			}
			present = true
			switch mediaType {
			case "application/json":
				jsonQ = max(jsonQ, q)
			case "text/event-stream":
				sseQ = max(sseQ, q)
			case "text/*":
				textQ = max(textQ, q)
			case "*/*":
				anyQ = max(anyQ, q)
			}
		}
	}
	if !present || jsonQ <= 0 {
		return false
	}
	// The most specific range that matches text/event-stream decides its
	// quality (RFC 9110, section 12.5.1); none means not acceptable.
	streamQ := 0.0
	switch {
	case sseQ >= 0:
		streamQ = sseQ
	case textQ >= 0:
		streamQ = textQ
	case anyQ >= 0:
		streamQ = anyQ
	}
	return jsonQ > streamQ && jsonQ > anyQ
}

// parseAcceptElement parses one element of an Accept header,
// "type/subtype;param=value;q=0.5", into its lower-cased media range and
// its q-value (1 if absent). ok is false for an empty or malformed element.
func parseAcceptElement(elem string) (mediaType string, q float64, ok bool) {
	params := splitOutsideQuotes(elem, ';')
	mediaType = strings.ToLower(strings.TrimSpace(params[0]))
	typ, sub, found := strings.Cut(mediaType, "/")
	if !found || typ == "" || sub == "" || strings.ContainsAny(mediaType, " \t") {
		return "", 0, false
	}
	q = 1
	for _, p := range params[1:] {
		name, value, _ := strings.Cut(p, "=")
		if !strings.EqualFold(strings.TrimSpace(name), "q") {
			continue
		}
		v, good := parseQ(strings.TrimSpace(value))
		if !good {
			return "", 0, false
		}
		q = v
		break // what follows q are accept-extensions, not media type parameters
	}
	return mediaType, q, true
}

// parseQ parses a qvalue: "0" to "1" with at most three decimals.
func parseQ(s string) (float64, bool) {
	if s == "" || len(s) > 5 || (s[0] != '0' && s[0] != '1') {
		return 0, false
	}
	if len(s) > 1 && s[1] != '.' {
		return 0, false
	}
	for _, c := range s[min(2, len(s)):] {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v > 1 {
		return 0, false
	}
	return v, true
}

// splitOutsideQuotes splits s at each sep that is not inside a quoted
// string (where a backslash escapes the next character).
func splitOutsideQuotes(s string, sep byte) []string {
	var parts []string
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == sep:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}
