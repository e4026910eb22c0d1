package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/ssehub/ssehub/emitter"
)

// Error codes of the JSON error bodies and of in-stream error events: one
// table for every endpoint (docs/api.md lists them with their statuses),
// in one case, Hantera's NOT_FOUND style.
const (
	CodeBadRequest   = "BAD_REQUEST"
	CodeBadTopic     = "BAD_TOPIC"
	CodeBadPattern   = "BAD_PATTERN"
	CodeBadJSON      = "BAD_JSON"
	CodeBadID        = "BAD_ID"
	CodeBadField     = "BAD_FIELD"
	CodeUnauthorized = "UNAUTHORIZED"
	CodeBadToken     = "BAD_TOKEN"
	CodeForbidden    = "FORBIDDEN"
	CodeCSRF         = "CSRF"
	CodeRateLimited  = "RATE_LIMITED"
	CodeNotFound     = "NOT_FOUND"
	CodeConflict     = "CONFLICT"
	CodeMethod       = "METHOD_NOT_ALLOWED"
	CodeNotAccept    = "NOT_ACCEPTABLE"
	CodeTooLarge     = "TOO_LARGE"
	CodeMediaType    = "UNSUPPORTED_MEDIA_TYPE"
	CodeGone         = "GONE"
	CodeTimeout      = "TIMEOUT"
	CodeUnavailable  = "UNAVAILABLE"
	CodeInternal     = "INTERNAL"
)

// WriteError writes the JSON error every failed request gets, before any
// other byte of the response: status and {"error":{"code":…,"message":…}}.
func WriteError(w http.ResponseWriter, status int, code, message string) {
	emitter.WriteError(w, status, code, message)
}

// WriteJSON writes v as a JSON response with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
