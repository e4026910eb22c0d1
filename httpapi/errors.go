package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/ssehub/ssehub/emitter"
)

// Error codes used in JSON error bodies.
const (
	codeBadRequest   = "bad_request"
	codeBadTopic     = "bad_topic"
	codeBadPattern   = "bad_pattern"
	codeBadJSON      = "bad_json"
	codeBadID        = "bad_id"
	codeUnauthorized = "unauthorized"
	codeBadToken     = "bad_token"
	codeForbidden    = "forbidden"
	codeRateLimited  = "rate_limited"
	codeNotFound     = "not_found"
	codeMethod       = "method_not_allowed"
	codeTooLarge     = "too_large"
	codeMediaType    = "unsupported_media_type"
	codeGone         = "GONE"
	codeUnavailable  = "unavailable"
	codeInternal     = "internal"
)

// writeError writes the JSON error every failed request gets, before any
// other byte of the response.
func writeError(w http.ResponseWriter, status int, code, message string) {
	emitter.WriteError(w, status, code, message)
}

// writeJSON writes v as a JSON response with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// methodNotAllowed answers a request with a method the route does not serve.
func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, codeMethod, "method "+r.Method+" not allowed; use "+allow)
	}
}
