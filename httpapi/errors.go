package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/ssehub/ssehub/emitter"
)

// Error codes of the JSON error bodies, one table for every endpoint
// (docs/api.md lists them with their statuses).
const (
	CodeBadRequest   = "bad_request"
	CodeBadTopic     = "bad_topic"
	CodeBadPattern   = "bad_pattern"
	CodeBadJSON      = "bad_json"
	CodeBadID        = "bad_id"
	CodeBadField     = "bad_field"
	CodeUnauthorized = "unauthorized"
	CodeBadToken     = "bad_token"
	CodeForbidden    = "forbidden"
	CodeCSRF         = "csrf"
	CodeRateLimited  = "rate_limited"
	CodeNotFound     = "not_found"
	CodeMethod       = "method_not_allowed"
	CodeNotAccept    = "not_acceptable"
	CodeTooLarge     = "too_large"
	CodeMediaType    = "unsupported_media_type"
	CodeGone         = "GONE"
	CodeTimeout      = "timeout"
	CodeUnavailable  = "unavailable"
	CodeInternal     = "internal"
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
