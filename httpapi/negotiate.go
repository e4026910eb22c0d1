package httpapi

import (
	"net/http"
	"strconv"
	"strings"
)

// wantsJSON reports whether the client explicitly prefers application/json
// over text/event-stream. TODO: replace with emitter.WantsJSON.
func wantsJSON(r *http.Request) bool {
	var jq, sq float64 = -1, -1
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		fields := strings.Split(part, ";")
		mt := strings.ToLower(strings.TrimSpace(fields[0]))
		q := 1.0
		for _, p := range fields[1:] {
			if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.TrimSpace(k) == "q" {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = f
				}
			}
		}
		switch mt {
		case "application/json":
			jq = max(jq, q)
		case "text/event-stream", "*/*", "text/*":
			sq = max(sq, q)
		}
	}
	return jq > 0 && jq > sq
}
